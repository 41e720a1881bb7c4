"""distral-repro: a reproduction of Distral (Teh et al., NeurIPS 2017)."""

from distral_repro import numerics

# Before torch computes anything in this process: the same bytes on any x86-64 CPU with AVX2.
numerics.configure()

__version__ = "0.1.0"
