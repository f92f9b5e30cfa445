import math

import numpy as np
import pytest
import torch

from flowem.physics.binning import bin_mean, bin_sum
from flowem.physics.ctf import Optics, aberration_phase, ctf_zero_frequencies, frequency_grid
from flowem.physics.forward import MicroscopeForward

PIXEL = 2.0
DOSE = 40.0
ALPHA = DOSE * PIXEL**2


def operator(optics=None, shape=(32, 32), defocus=15000.0, **kwargs) -> MicroscopeForward:
    return MicroscopeForward(optics or Optics(), shape, PIXEL, DOSE, defocus, **kwargs)


def random_phase(shape, scale, seed=0, dtype=torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(shape, generator=gen, dtype=dtype)


@pytest.mark.parametrize(
    "optics", [Optics(), Optics(amplitude_contrast=0.0, b_envelope_a2=80.0, aperture_inv_a=0.15)]
)
def test_zero_phase_gives_uniform_counts_alpha(optics):
    op = MicroscopeForward(
        optics, (24, 40), PIXEL, DOSE, [8000.0, 21000.0], [7000.0, 22000.0], [30.0, 120.0]
    )
    counts = op(torch.zeros(2, 24, 40))
    torch.testing.assert_close(counts, torch.full_like(counts, ALPHA), rtol=1e-5, atol=0)


def test_unit_modulus_transfer_conserves_mean_intensity():
    """Pure phase, |H| = 1, no padding (periodic): mean |psi_img|^2 = 1 for any aberration."""
    optics = Optics(amplitude_contrast=0.0)
    phase = random_phase((3, 32, 32), 1.0)
    for defocus in (0.0, 12000.0, 30000.0):
        counts = operator(optics, defocus=defocus, pad_factor=1.0)(phase)
        torch.testing.assert_close(
            counts.mean(dim=(1, 2)),
            torch.full((3,), ALPHA, dtype=torch.float64),
            rtol=1e-10,
            atol=0,
        )
    in_focus = operator(Optics(amplitude_contrast=0.0, cs_mm=0.0), defocus=0.0)(phase)
    torch.testing.assert_close(in_focus, torch.full_like(in_focus, ALPHA), rtol=1e-10, atol=0)


def test_weak_phase_limit_matches_linear_ctf_image():
    op = operator(Optics(b_envelope_a2=40.0), defocus=[12000.0, 20000.0])
    residuals = []
    for eps in (1e-2, 5e-3):
        phase = random_phase((2, 32, 32), eps, seed=4)
        linear = op.weak_phase_counts(phase)
        residuals.append(float((op(phase) - linear).norm() / (linear - ALPHA).norm()))
    assert residuals[0] < 2e-2
    assert residuals[1] == pytest.approx(residuals[0] / 2, rel=0.1)  # error is second order


def test_ctf_zeros_at_analytic_radii():
    """The operator's empirical transfer of a tiny white phase changes sign at the zeros of
    sin(chi) + w cos(chi) from the closed-form quadratic, and is negative (dark) below them."""
    optics = Optics(cs_mm=2.7, amplitude_contrast=0.1)
    size, defocus = 256, 20000.0
    op = MicroscopeForward(optics, (size, size), 1.0, DOSE, defocus, pad_factor=1.0)
    phase = random_phase((1, size, size), 1e-4, seed=1)
    image = op(phase)[0] / op.alpha - 1.0
    transfer = (torch.fft.fft2(image) / (2 * torch.fft.fft2(phase[0]))).real.numpy()
    k, _ = frequency_grid((size, size), 1.0)
    k = k.numpy()
    kx_axis = k[0, 1 : size // 2]  # positive kx along the first row
    profile = transfer[0, 1 : size // 2]
    crossings = kx_axis[:-1][np.sign(profile[:-1]) != np.sign(profile[1:])]
    expected = ctf_zero_frequencies(optics, defocus, 4)
    assert profile[0] < 0
    np.testing.assert_allclose(crossings[:4], expected, atol=1.0 / size)


def test_ctf_zero_quadratic_solves_chi():
    optics = Optics()
    zeros = torch.tensor(ctf_zero_frequencies(optics, 15000.0, 5), dtype=torch.float64)
    chi = aberration_phase(
        zeros,
        torch.zeros_like(zeros),
        optics,
        torch.tensor([15000.0]),
        torch.tensor([15000.0]),
        torch.tensor([0.0]),
    ).reshape(-1)
    expected = torch.arange(1, 6, dtype=torch.float64) * math.pi - math.atan(0.07)
    torch.testing.assert_close(chi, expected)


def test_astigmatism_defocus_along_angle():
    optics = Optics(cs_mm=0.0)
    k = torch.full((2,), 0.1, dtype=torch.float64)
    theta = torch.deg2rad(torch.tensor([30.0, 120.0], dtype=torch.float64))
    chi = aberration_phase(
        k, theta, optics, torch.tensor([20000.0]), torch.tensor([10000.0]), torch.tensor([30.0])
    ).reshape(-1)
    expected = math.pi * optics.wavelength_a * torch.tensor([20000.0, 10000.0]) * 0.01
    torch.testing.assert_close(chi, expected.double())


def test_gradcheck_float64():
    op = MicroscopeForward(
        Optics(b_envelope_a2=50.0, aperture_inv_a=0.2),
        (8, 8),
        PIXEL,
        DOSE,
        [9000.0, 16000.0],
        [8000.0, 17000.0],
        [10.0, 60.0],
        pad_factor=1.5,
    )
    phase = random_phase((2, 8, 8), 0.5, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: op(x) / ALPHA, (phase,), eps=1e-6, atol=1e-7)


def test_float32_matches_float64():
    op = operator(defocus=[10000.0, 25000.0])
    phase = random_phase((2, 32, 32), 0.3, seed=3)
    torch.testing.assert_close(op(phase.float()).double(), op(phase), rtol=1e-5, atol=1e-3)


def test_padding_prevents_wrap_around():
    """A phase feature at the left edge must not leak into the right edge of the image (the
    point-spread function, radius ~ lambda df k_max = 25 px here, is shorter than the image)."""
    phase = torch.zeros(1, 64, 64, dtype=torch.float64)
    phase[0, 28:36, 0:4] = 0.5
    counts = operator(Optics(cs_mm=0.0), shape=(64, 64), defocus=5000.0, pad_factor=2.0)(phase)
    wrapped = operator(Optics(cs_mm=0.0), shape=(64, 64), defocus=5000.0, pad_factor=1.0)(phase)
    assert (counts[0, :, -6:] - ALPHA).abs().max() < 1e-3 * ALPHA
    assert (wrapped[0, :, -6:] - ALPHA).abs().max() > 1e-2 * ALPHA


def test_poisson_sampling_is_seeded_with_mean_lambda():
    op = operator()
    phase = random_phase((1, 32, 32), 0.3, seed=5)
    first = op.sample(phase, torch.Generator().manual_seed(9))
    second = op.sample(phase, torch.Generator().manual_seed(9))
    assert torch.equal(first, second)
    assert torch.equal(first, first.round())
    draws = torch.stack([op.sample(phase, torch.Generator().manual_seed(s)) for s in range(200)])
    rate = op(phase)
    z = (draws.mean(0) - rate) / torch.sqrt(rate / 200)
    assert z.abs().mean() < 1.0  # ~0.8 for a correct Poisson mean


def test_binning_sum_keeps_counts_and_mean_keeps_radians():
    images = torch.arange(2 * 8 * 12, dtype=torch.float64).reshape(2, 8, 12)
    assert bin_sum(images, 4).sum() == images.sum()
    assert bin_mean(images, 2)[0, 0, 0] == images[0, :2, :2].mean()
    with pytest.raises(ValueError, match="divisible"):
        bin_mean(images, 5)


def test_mismatched_batch_is_rejected():
    with pytest.raises(ValueError, match="defocus"):
        operator(defocus=[1e4, 2e4, 3e4])(torch.zeros(2, 32, 32))


def test_a_180_degree_phase_shift_inverts_the_weak_phase_contrast():
    """A phase plate shifts the scattered wave (k > 0) against the unscattered beam: 180
    degrees flips sin and cos of chi alike, so the linear image's contrast inverts exactly
    (DC aside) and the full wave model's to first order in the phase."""
    phase = 0.01 * torch.randn(2, 24, 24, generator=torch.Generator().manual_seed(0)).double()
    plain = MicroscopeForward(Optics(), (24, 24), 2.0, 30.0, torch.tensor([15000.0, 9000.0]))
    flipped = MicroscopeForward(
        Optics(), (24, 24), 2.0, 30.0, torch.tensor([15000.0, 9000.0]), phase_shift_deg=180.0
    )
    phase = phase - phase.mean(dim=(-2, -1), keepdim=True)  # no DC: the plate leaves k = 0
    alpha = plain.alpha
    linear, linear_flipped = plain.weak_phase_counts(phase), flipped.weak_phase_counts(phase)
    torch.testing.assert_close(linear_flipped - alpha, -(linear - alpha))
    contrast, contrast_flipped = plain(phase) - alpha, flipped(phase) - alpha
    error = (contrast_flipped + contrast).pow(2).mean().sqrt()
    assert error < 0.05 * contrast.pow(2).mean().sqrt()
