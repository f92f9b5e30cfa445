"""No-reference scores of restorations: NIQE (natural and EM-fitted model), decorrelation."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from flowem.metrics import fit_niqe_model
from flowem.restore.evaluate import DATA_RANGE, mosaic, no_reference_scores


def _texture(seed: int, size: int = 192) -> np.ndarray:
    """Pristine stand-in: band-limited noise with sharp edges, in [-1, 1]."""
    noise = np.random.default_rng(seed).standard_normal((size, size))
    return np.tanh(3 * ndimage.gaussian_filter(noise, 1.5) / 0.2) * 0.8


def test_mosaic_places_images_in_rows_of_three():
    images = np.arange(5)[:, None, None] * np.ones((5, 2, 3))
    tiled = mosaic(images)
    assert tiled.shape == (4, 9)
    assert tiled[0, 3] == 1 and tiled[2, 3] == 4 and tiled[2, 6] == 0  # padding tile is 0


def _natural():
    """Stand-in for the natural-image model (the tests make their own data; no mirror)."""
    return fit_niqe_model([_texture(s, 128) for s in range(20, 23)], DATA_RANGE)


def test_blurring_worsens_niqe_against_a_fitted_model_and_coarsens_decorrelation():
    model = fit_niqe_model([_texture(s) for s in range(4)], DATA_RANGE)
    pristine = _texture(10)
    blurred = ndimage.gaussian_filter(pristine, 3.0)
    sharp = no_reference_scores(pristine[None], 4.0, model, _natural())
    soft = no_reference_scores(blurred[None], 4.0, model, _natural())
    assert set(sharp) == {"decorrelation_nm", "niqe", "niqe_em"}
    assert soft["niqe_em"] > sharp["niqe_em"] + 1.0
    assert soft["decorrelation_nm"] > sharp["decorrelation_nm"]


def test_small_crops_are_scored_as_one_mosaic_or_not_at_all():
    crops = np.stack([_texture(s, 64) for s in range(6)])  # mosaic 128 x 192: two blocks
    scores = no_reference_scores(crops, 4.0, None, _natural())
    assert set(scores) == {"decorrelation_nm", "niqe"}  # no EM model given
    small = no_reference_scores(crops[:2, :32, :32], 4.0, None, _natural())
    assert set(small) == {"decorrelation_nm"}
