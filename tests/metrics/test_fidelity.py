"""PSNR and SSIM against their definitions; batch helpers aggregate per-image values."""

from __future__ import annotations

import numpy as np
import pytest

from flowem.metrics import batch_psnr, batch_ssim, per_image, psnr, reference_range, ssim


def test_psnr_matches_its_definition():
    rng = np.random.default_rng(0)
    ref = rng.uniform(-1.0, 3.0, size=(32, 40))
    img = ref + rng.normal(scale=0.1, size=ref.shape)
    data_range = 4.0
    expected = 10 * np.log10(data_range**2 / np.mean((ref - img) ** 2))
    assert psnr(ref, img, data_range) == pytest.approx(expected, rel=1e-12)


def test_psnr_uses_the_given_data_range_not_the_dtype():
    ref = np.zeros((8, 8), dtype=np.float32)
    img = np.full((8, 8), 0.5, dtype=np.float32)
    # MSE = 0.25: range 1 -> 6.02 dB, range 2 -> 12.04 dB
    assert psnr(ref, img, 1.0) == pytest.approx(10 * np.log10(4.0))
    assert psnr(ref, img, 2.0) - psnr(ref, img, 1.0) == pytest.approx(20 * np.log10(2.0))


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_data_range_must_be_positive(bad):
    with pytest.raises(ValueError, match="data_range"):
        psnr(np.zeros((8, 8)), np.ones((8, 8)), bad)


def test_ssim_identity_and_independent_noise():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(64, 64))
    assert ssim(ref, ref, reference_range(ref)) == pytest.approx(1.0)
    noise = rng.normal(size=(64, 64))
    assert abs(ssim(ref, noise, reference_range(ref))) < 0.1


def test_ssim_drops_with_noise():
    rng = np.random.default_rng(2)
    ref = np.cumsum(rng.normal(size=(64, 64)), axis=1)
    values = [
        ssim(ref, ref + rng.normal(scale=s, size=ref.shape), reference_range(ref))
        for s in (0.5, 2.0, 8.0)
    ]
    assert values[0] > values[1] > values[2]


def test_batch_is_the_summary_of_per_image_values():
    rng = np.random.default_rng(3)
    refs = rng.normal(size=(5, 16, 16))
    scales = np.array([0.05, 0.1, 0.2, 0.4, 0.8])
    imgs = refs + scales[:, None, None] * rng.normal(size=refs.shape)
    values = per_image(psnr, refs, imgs, "reference")  # each reference's own range
    assert values == pytest.approx([psnr(r, i, np.ptp(r)) for r, i in zip(refs, imgs, strict=True)])
    assert np.all(np.diff(values) < 0)
    summary = batch_psnr(refs, imgs, "reference")
    assert summary.n == 5
    assert summary.mean == pytest.approx(values.mean())
    assert summary.std == pytest.approx(values.std(ddof=1))
    assert summary.ci_low < summary.mean < summary.ci_high
    # one value over the whole batch tensor is not the same thing
    pooled = psnr(refs, imgs, np.ptp(refs))
    assert pooled != pytest.approx(summary.mean, rel=1e-3)
    assert batch_ssim(refs, imgs, data_range=4.0).n == 5
    per_range = per_image(psnr, refs, imgs, np.full(5, 2.0))
    assert per_range == pytest.approx(per_image(psnr, refs, imgs, 2.0))
    with pytest.raises(ValueError, match="reference"):
        per_image(psnr, refs, imgs, "auto")
