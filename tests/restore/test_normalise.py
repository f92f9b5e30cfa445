"""Per-image intensity normalisation: the round trip, the statistics, the polarity test and the
equivariance of a normalised restoration under any scaling and offset of its input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from tests.restore.test_rows import AnalyticPrior

from flowem.errors import InputFileError
from flowem.physics.noise import GaussianNoise
from flowem.physics.operators import AreaDownsample, Identity
from flowem.posterior import SamplerSettings
from flowem.prior.analytic import GaussianPriorVelocity
from flowem.restore.normalise import (
    LOWPASS_PX,
    REFERENCE_CENTRE,
    REFERENCE_SPREAD,
    fit_normalisation,
    lowpass,
    lowpass_gain,
    membrane_polarity,
    robust_spread,
)
from flowem.restore.patches import to_unit_range
from flowem.restore.sampling import Restorer
from flowem.restore.settings import RestoreSettings
from flowem.restore.tasks import Task


def membranes(size: int = 96, seed: int = 0) -> np.ndarray:
    """A TEM-like toy: bright cells with smooth shading, thin dark walls 2 px wide, in [0, 1]."""
    gen = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    image = 0.7 + 0.1 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + 0.02 * gen.normal(size=(size, size))
    walls = (yy % 24 < 2) | ((xx + yy // 3) % 20 < 2)
    image[walls] = 0.15
    return image


def as_dtype(image01: np.ndarray, dtype) -> np.ndarray:
    if dtype == np.uint8:
        return np.round(image01 * 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.round(image01 * 50000 + 3000).astype(np.uint16)
    return (image01 * 700.0 - 120.0).astype(np.float32)  # a float image of any range


def test_fixed_scale_of_uint8_is_exactly_todays():
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)
    fit = fit_normalisation(image, "fixed", "dark")
    assert np.array_equal(fit.apply(image), to_unit_range(image))
    assert fit.apply(image).dtype == np.float32 and fit.normalised_std(0.2 * 127.5) == 0.2


@pytest.mark.parametrize("method", ["fixed", "robust"])
@pytest.mark.parametrize("polarity", ["dark", "bright"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_normalise_then_invert_is_the_identity(method, polarity, dtype):
    image = as_dtype(membranes(), dtype)
    fit = fit_normalisation(image, method, polarity)
    back = fit.invert(fit.apply(image))
    span = float(image.max()) - float(image.min())
    assert np.allclose(back, image.astype(np.float64), rtol=0, atol=1e-6 * span)
    assert fit.sign == (1 if polarity == "dark" else -1) and fit.dtype == np.dtype(dtype).name
    # the inverted map mirrors the plain one about the target centre
    other = fit_normalisation(image, method, "dark" if polarity == "bright" else "bright")
    assert np.allclose(fit.apply(image) + other.apply(image), 2 * fit.target_centre, atol=1e-5)


def test_robust_maps_median_and_spread_to_the_reference():
    image = as_dtype(membranes(), np.uint16)
    u = fit_normalisation(image, "robust", "dark").apply(image)
    assert np.median(u) == pytest.approx(REFERENCE_CENTRE, abs=1e-5)
    assert robust_spread(lowpass(u)) == pytest.approx(REFERENCE_SPREAD, rel=1e-4)


def smooth_field(size: int = 256, seed: int = 1) -> np.ndarray:
    """A correlated random image (EM-like spectrum: most power below the low-pass)."""
    white = np.random.default_rng(seed).normal(size=(size, size))
    return 40.0 * ndimage.gaussian_filter(white, 1.5) + 100.0


def test_robust_spread_is_corrected_for_the_measurement_noise():
    clean = smooth_field()
    noisy = clean + np.random.default_rng(2).normal(0.0, 15.0, clean.shape)
    truth = robust_spread(lowpass(clean))
    assert lowpass_gain() == pytest.approx(1 / (2 * np.sqrt(np.pi) * LOWPASS_PX), rel=0.01)
    fit = fit_normalisation(noisy, "robust", "dark", noise_std=15.0)
    assert fit.spread == pytest.approx(truth, rel=0.04)
    assert fit_normalisation(noisy, "robust", "dark").spread > 1.1 * truth  # uncorrected
    assert fit.normalised_std(15.0) == pytest.approx(15.0 * REFERENCE_SPREAD / fit.spread)


def test_robust_spread_of_a_downsampled_measurement_matches_the_image():
    """Area-downsampling by 4 shrinks the full-band spread; the low-passed one, taken at the
    same physical scale (``pixel_factor`` 4), stays."""
    clean = smooth_field()
    coarse = clean.reshape(64, 4, 64, 4).mean(axis=(1, 3))
    full = fit_normalisation(clean, "robust", "dark")
    measured = fit_normalisation(coarse, "robust", "dark", pixel_factor=4)
    assert measured.spread == pytest.approx(full.spread, rel=0.05)
    assert robust_spread(coarse) < 0.9 * robust_spread(clean)


@pytest.mark.parametrize("scale, offset", [(3.7, 250.0), (0.01, -4.0)])
def test_robust_normalisation_is_invariant_to_scale_and_offset(scale, offset):
    image = membranes()
    fit = fit_normalisation(image, "robust", "auto", noise_std=0.02)
    moved = scale * image + offset
    fit_moved = fit_normalisation(moved, "robust", "auto", noise_std=0.02 * scale)
    assert np.allclose(fit_moved.apply(moved), fit.apply(image), atol=1e-5)
    assert fit_moved.normalised_std(0.02 * scale) == pytest.approx(fit.normalised_std(0.02))


def test_auto_polarity_finds_dark_and_bright_membranes():
    image = membranes()
    dark = fit_normalisation(image, "robust", "auto")
    bright = fit_normalisation(1.0 - image, "robust", "auto")
    assert (dark.polarity, dark.sign, bright.polarity, bright.sign) == ("dark", 1, "bright", -1)
    assert dark.polarity_chosen == "auto" and dark.polarity_score > 0.1
    assert membrane_polarity(-image) == pytest.approx(-membrane_polarity(image), abs=1e-9)
    # the bright image, inverted, reaches the prior exactly as the dark one does
    assert np.allclose(bright.apply(1.0 - image), dark.apply(image), atol=1e-5)


def test_a_constant_or_non_finite_image_is_an_error_naming_it():
    with pytest.raises(InputFileError, match=r"flat\.tif: all pixels are equal"):
        fit_normalisation(np.full((8, 8), 7, np.uint8), "robust", source="flat.tif")
    image = membranes(16).astype(np.float32)
    image[3, 4] = np.nan
    with pytest.raises(InputFileError, match=r"nan\.mrc: .*NaN"):
        fit_normalisation(image, "fixed", source="nan.mrc")


@pytest.mark.parametrize("kind", ["denoise", "sr2"])
@pytest.mark.parametrize("method", ["dc", "si"])
def test_a_scaled_and_offset_image_restores_to_the_scaled_restoration(kind, method):
    """``a y + b`` with noise ``a sigma`` restores to ``a x_hat + b`` (same seed: exactly, up to
    float error); a negative ``a`` (the bright version) too, where ``polarity`` is ``auto``.
    On the fixed scale the restoration is not equivariant (the check has teeth)."""
    sigma = 0.1
    clean = np.stack([membranes(32, s) * 0.8 - 0.4 for s in range(3)]).astype(np.float32)
    operator = Identity() if kind == "denoise" else AreaDownsample(2)

    def task(std: float) -> Task:
        return Task(kind, operator.with_noise(GaussianNoise(std)))

    prior = AnalyticPrior(GaussianPriorVelocity(REFERENCE_CENTRE, REFERENCE_SPREAD))
    restorer = Restorer(prior, 0, torch.device("cpu"))
    y = restorer.measure(task(sigma), clean, 0)
    sampler = SamplerSettings(method=method, steps=8, lr=0.5)
    robust = RestoreSettings(crop=32, normalise="robust", polarity="auto")
    shape = clean.shape[-2:]
    x_hat = restorer.restore(task(sigma), y, sampler, robust, 5, shape)
    for a, b in ((2.5, 40.0), (1e-3, -0.2), (-3.0, 100.0)):
        moved = restorer.restore(task(abs(a) * sigma), a * y + b, sampler, robust, 5, shape)
        assert np.allclose(moved, a * x_hat + b, rtol=0, atol=2e-4 * abs(a))
    fixed = RestoreSettings(crop=32)
    x_fixed = restorer.restore(task(sigma), y, sampler, fixed, 5, shape)
    moved = restorer.restore(task(2.5 * sigma), 2.5 * y + 40.0, sampler, fixed, 5, shape)
    assert not np.allclose(moved, 2.5 * x_fixed + 40.0, atol=1e-2)
