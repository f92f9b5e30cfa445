import numpy as np
import pytest
import torch

from flowem.physics.ctf import Optics, ctf_zero_frequencies
from flowem.physics.forward import MicroscopeForward
from flowem.physics.ice import IceBackground

ICE = IceBackground(std_rad=0.02, correlation_a=50.0, exponent=1.0)


def radial_power(images: torch.Tensor, pixel_a: float) -> tuple[np.ndarray, np.ndarray]:
    """``(k, power)``: mean periodogram in rings of width 1/box."""
    size = images.shape[-1]
    power = (torch.fft.fft2(images - images.mean()).abs() ** 2).mean(0).numpy()
    k = np.hypot(*np.meshgrid(*[np.fft.fftfreq(size, pixel_a)] * 2, indexing="ij"))
    ring = np.round(k * size * pixel_a).astype(int).ravel()
    total, count = np.bincount(ring, power.ravel()), np.bincount(ring)
    return np.arange(len(count)) / (size * pixel_a), total / np.maximum(count, 1)


def test_field_std_and_spectrum_do_not_depend_on_the_pixel():
    """At 1 A pixels (a 0.5 / A square band) the std is about std_rad (the disc defines it);
    at 2 A pixels the same spectral density is drawn: power per frequency agrees."""
    fine = ICE.sample((256, 256), 1.0, torch.Generator().manual_seed(0), count=16)
    coarse = ICE.sample((128, 128), 2.0, torch.Generator().manual_seed(1), count=64)
    assert fine.std().item() == pytest.approx(ICE.std_rad, rel=0.1)
    k_fine, p_fine = radial_power(fine, 1.0)
    k_coarse, p_coarse = radial_power(coarse, 2.0)
    np.testing.assert_allclose(k_fine[:64], k_coarse[:64])
    # periodogram / (N^2 / pixel^2 ... ) = Phi: same field area, so p * pixel^2 / N^2 agree
    psd_fine = p_fine[2:60] * 1.0**2 / 256**2
    psd_coarse = p_coarse[2:60] * 2.0**2 / 128**2
    assert np.abs(np.log(psd_fine / psd_coarse)).mean() < 0.1
    expected = ICE.spectrum(torch.as_tensor(k_fine[2:60])).numpy()
    assert np.abs(np.log(psd_fine / expected)).mean() < 0.1


def test_ice_through_the_ctf_has_power_minima_at_the_ctf_zeros():
    """The background (ice alone) passes the transfer function: Thon rings at the CTF zeros."""
    optics = Optics(amplitude_contrast=0.07)
    pixel, size, defocus = 1.5, 256, 15000.0
    fields = ICE.sample((size, size), pixel, torch.Generator().manual_seed(1), count=16)
    operator = MicroscopeForward(optics, (size, size), pixel, 1e6, defocus, pad_factor=1.0)
    k, power = radial_power(operator(fields), pixel)
    zeros = ctf_zero_frequencies(optics, defocus, 4)
    width = 1.0 / (size * pixel)
    for zero in zeros:
        near = np.abs(k - zero) <= 4 * width
        at_min = k[near][np.argmin(power[near])]
        assert abs(at_min - zero) <= 1.01 * width
        # deep minimum: far below the power half-way to the next ring
        assert power[near].min() < 0.1 * power[near].max()
