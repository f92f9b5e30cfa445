"""Synthetic signals with known spectra for the metrics tests."""

from __future__ import annotations

import numpy as np


def band_limited(shape, kc, rng):
    """Unit-variance white noise keeping only |k| <= kc (cycles per pixel)."""
    grids = np.meshgrid(*[np.fft.fftfreq(n) for n in shape], indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grids))
    x = np.real(np.fft.ifftn(np.fft.fftn(rng.normal(size=shape)) * (radius <= kc)))
    return x / x.std()
