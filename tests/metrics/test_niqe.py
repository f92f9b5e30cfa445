"""NIQE: the original model, its monotonic response to noise and blur on EM images, and a
domain model fitted on the image itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from flowem.io import read_tiff
from flowem.metrics import NiqeModel, fit_niqe_model, niqe, read_niqe_model, write_niqe_model
from flowem.metrics.niqe import _imresize_half, block_features, natural_model

MIRROR = Path(__file__).resolve().parents[3] / "shared" / "data"
ISBI = MIRROR / "em" / "isbi2012_train_volume.tif"
NATURAL = MIRROR / "niqe" / "modelparameters.mat"


@pytest.fixture(scope="module")
def isbi() -> np.ndarray:
    if not ISBI.is_file():
        pytest.skip(f"the ISBI 2012 EM volume is not in the mirror ({ISBI})")
    volume, _ = read_tiff(ISBI)
    return volume


@pytest.fixture(scope="module")
def natural():
    if not NATURAL.is_file():
        pytest.skip(f"the NIQE natural-image model is not in the mirror ({NATURAL})")
    return read_niqe_model(NATURAL)


def noisy(img, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(scale=sigma, size=img.shape), 0, 255)


def test_default_model_is_fetched_through_the_mirror(natural, monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWEM_MIRRORS", str(MIRROR))
    monkeypatch.chdir(tmp_path)
    natural_model.cache_clear()
    try:
        model = natural_model()
    finally:
        natural_model.cache_clear()
    assert (tmp_path / "resources" / "niqe" / "modelparameters.mat").exists()
    assert model.mu.shape == (36,) and model.cov.shape == (36, 36)
    assert np.allclose(model.mu, natural.mu) and np.allclose(model.cov, natural.cov)


def test_features_are_36_per_block(isbi):
    features, sharpness = block_features(isbi[0].astype(float))
    assert features.shape == (25, 36) and sharpness.shape == (25,)  # 512 px: 5 x 5 blocks
    assert np.all(np.isfinite(features))


def test_niqe_rises_with_noise_and_blur_against_a_domain_model(isbi):
    # pristine model: every third slice of the volume, never the one under test
    domain = fit_niqe_model([isbi[i] for i in range(0, 30, 3) if i != 10])
    img = isbi[10].astype(np.float64)
    by_noise = [niqe(noisy(img, s), domain, (0, 255)) for s in (0, 10, 20, 40)]
    by_blur = [niqe(ndimage.gaussian_filter(img, s), domain, (0, 255)) for s in (0, 1, 2, 4)]
    assert np.all(np.diff(by_noise) > 0), by_noise
    assert np.all(np.diff(by_blur) > 0), by_blur


def test_niqe_rises_with_noise_against_the_natural_model(isbi, natural):
    img = isbi[0].astype(np.float64)
    values = [niqe(noisy(img, s), natural, (0, 255)) for s in (0, 10, 20, 40)]
    assert np.all(np.diff(values) > 0), values


def test_a_model_fitted_on_the_image_itself_scores_it_near_zero(isbi, natural, tmp_path):
    img = isbi[5]
    own = fit_niqe_model([img])
    score = niqe(img, own)
    assert score < 1.0
    assert score < 0.1 * niqe(img, natural)
    assert niqe(noisy(img.astype(float), 20), own, (0, 255)) > 10 * score
    # every block kept: the image's own Gaussian, distance exactly zero
    assert niqe(img, fit_niqe_model([img], sharpness_threshold=0.0)) == pytest.approx(0, abs=1e-6)
    path = write_niqe_model(tmp_path / "em_model.mat", own)
    again = read_niqe_model(path)
    assert np.allclose(again.mu, own.mu) and np.allclose(again.cov, own.cov)


def test_matlab_half_size_resize_preserves_constants_and_ramps():
    flat = np.full((10, 12), 7.0)
    assert np.allclose(_imresize_half(flat), 7.0)
    ramp = np.tile(np.arange(16.0), (8, 1))
    half = _imresize_half(ramp)
    assert half.shape == (4, 8)
    # interior output pixel o sits at input position 2o + 0.5
    assert half[0, 2:6] == pytest.approx(2 * np.arange(2, 6) + 0.5)


def test_niqe_needs_a_block_and_a_range():
    model = NiqeModel(np.zeros(36), np.eye(36))
    with pytest.raises(ValueError, match="block"):
        niqe(np.zeros((50, 50)) + np.arange(50), model)
    with pytest.raises(ValueError, match="constant"):
        niqe(np.ones((200, 200)), model)
