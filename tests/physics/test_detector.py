import math

import numpy as np
import pytest
import torch

from flowem.physics.detector import apply_mtf, counting_mtf


def test_mtf_at_nyquist_is_pixel_sinc_times_gaussian():
    mtf = counting_mtf((64, 64), 1.3, 1.5)
    assert mtf[0, 0].item() == pytest.approx(1.0)
    nyquist_x = mtf[0, 32].item()
    assert nyquist_x == pytest.approx(2 / math.pi * math.exp(-1 / (2 * 1.5**2)), rel=1e-9)
    assert torch.allclose(
        counting_mtf((64, 64), 1.3, math.inf)[0, 32], torch.tensor(2 / math.pi, dtype=torch.float64)
    )


def test_mtf_applied_to_white_noise_gives_mtf_squared():
    """Radially averaged power of filtered white noise equals the radial average of MTF^2."""
    size, pixel = 128, 1.3
    noise = torch.randn(
        (64, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    filtered = apply_mtf(noise, pixel, 1.5)
    power = (torch.fft.fft2(filtered).abs() ** 2).mean(0) / size**2  # white noise: 1 per bin
    mtf2 = counting_mtf((size, size), pixel, 1.5) ** 2
    ring = np.round(np.hypot(*np.meshgrid(*[np.fft.fftfreq(size, 1 / size)] * 2, indexing="ij")))
    ring = ring.astype(int).ravel()
    count = np.bincount(ring)
    measured = np.bincount(ring, power.numpy().ravel()) / count
    expected = np.bincount(ring, mtf2.numpy().ravel()) / count
    chosen = slice(1, size // 2)
    np.testing.assert_allclose(measured[chosen], expected[chosen], rtol=0.1)
    assert expected[size // 2 - 1] < 0.35  # the filter does act: DQE(Nyquist) about 0.26
