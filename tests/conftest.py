"""Imported by pytest before any test module: distral_repro sets its numeric mode before torch computes."""

import distral_repro  # noqa: F401  (numerics.configure() runs on import)
