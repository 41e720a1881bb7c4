"""distral-repro: a reproduction of Distral (Teh et al., NeurIPS 2017)."""

__version__ = "0.1.0"
