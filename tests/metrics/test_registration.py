"""Registration recovers a known translation and improves the metrics it precedes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from flowem.metrics import align, psnr, register_optical_flow, register_translation


def textured(n, seed):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.normal(size=(n, n)), 2.0) * 10


def test_translation_is_recovered_to_a_tenth_of_a_pixel():
    ref = textured(128, 0)
    moved = ndimage.shift(ref, (3.4, -2.2), order=3, mode="grid-wrap")
    moved += np.random.default_rng(9).normal(scale=0.5, size=moved.shape)
    reg = register_translation(ref, moved)
    assert reg.shift == pytest.approx((-3.4, 2.2), abs=0.1)
    assert reg.reference.shape == reg.image.shape == (120, 122)
    data_range = np.ptp(ref)
    assert psnr(reg.reference, reg.image, data_range) > psnr(ref, moved, data_range) + 10


def test_optical_flow_recovers_a_small_shift():
    ref = textured(96, 1)
    moved = ndimage.shift(ref, (1.5, -1.0), order=3, mode="nearest")
    reg = register_optical_flow(ref, moved)
    assert reg.shift == pytest.approx((-1.5, 1.0), abs=0.2)
    assert reg.error < 0.2 * np.sqrt(np.mean((ref - moved) ** 2))


def test_align_dispatches_and_rejects_unknown_methods():
    ref = textured(32, 2)
    assert align(ref, ref, "none").shift == (0.0, 0.0)
    with pytest.raises(ValueError, match="registration method"):
        align(ref, ref, "affine")
