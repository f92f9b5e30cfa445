"""Classical phase-retrieval baselines on the shared microscope operator."""

from __future__ import annotations

import torch

from flowem.physics.ctf import Optics
from flowem.physics.forward import MicroscopeForward
from flowem.posterior.likelihood import poisson_deviance, poisson_nll
from flowem.retrieval import (
    IterativeSettings,
    PoissonTVSettings,
    iterative_phase_retrieval,
    poisson_tv,
    wiener_ctf_inverse,
)
from flowem.retrieval.grid import pad_to
from flowem.retrieval.poisson_tv import total_variation

H = 32


def compact_phase(count: int = 2, amplitude: float = 0.05) -> torch.Tensor:
    """Smooth blobs in the middle of the image (a weak phase object for small amplitude)."""
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(H), indexing="ij")
    maps = [
        amplitude * torch.exp(-((yy - 15 - i) ** 2 + (xx - 16 + i) ** 2) / 6.0)
        for i in range(count)
    ]
    return torch.stack(maps).double()


def operator(count: int = 2, dose: float = 30.0) -> MicroscopeForward:
    return MicroscopeForward(Optics(), (H, H), 5.24, dose, torch.linspace(15000.0, 25000.0, count))


def test_wiener_inverts_noiseless_weak_phase_image_in_the_passband():
    truth = compact_phase()
    op = operator()
    y = op.weak_phase_counts(truth)  # exactly the linear model
    estimate = wiener_ctf_inverse(y, op, snr=1e8)
    band = op.ctf.abs() > 0.3  # where the CTF transfers well
    true_spec = torch.fft.fft2(pad_to(truth, op.padded_shape))
    est_spec = torch.fft.fft2(pad_to(estimate, op.padded_shape))
    error = (est_spec - true_spec).abs()[band].norm() / true_spec.abs()[band].norm()
    assert error < 1e-3


def test_iterative_kept_residual_never_increases_and_beats_its_start():
    truth = compact_phase(amplitude=0.8)
    op = operator()
    y = op.sample(truth, torch.Generator().manual_seed(0))
    result = iterative_phase_retrieval(
        y, op, IterativeSettings(iterations=30, restarts=2), torch.Generator().manual_seed(1)
    )
    history = torch.stack(result.history)
    assert torch.all(history[1:] <= history[:-1])
    assert torch.all(result.deviance < history[0])  # better than the CTF start
    torch.testing.assert_close(poisson_deviance(y, op(result.phase)), result.deviance)


def test_iterative_recovers_a_strong_phase_object_from_noiseless_data():
    truth = compact_phase(amplitude=0.8)
    op = operator()
    y = op(truth)
    result = iterative_phase_retrieval(
        y, op, IterativeSettings(iterations=150, restarts=1), torch.Generator().manual_seed(1)
    )
    start = wiener_ctf_inverse(y, op, 1.0)
    assert ((result.phase - truth) ** 2).mean() < ((start - truth) ** 2).mean()


def test_poisson_tv_lowers_its_objective_and_smooths():
    truth = compact_phase(amplitude=0.8)
    op = operator()
    y = op.sample(truth, torch.Generator().manual_seed(0))
    settings = PoissonTVSettings(iterations=60, tv_weight=0.5)
    start = wiener_ctf_inverse(y, op, settings.init_snr)
    result = poisson_tv(y, op, settings)

    def objective(x):
        return poisson_nll(y, op(x)) / op.alpha + settings.tv_weight * total_variation(x, 1e-3)

    assert torch.all(objective(result) < objective(start))
    rough = poisson_tv(y, op, PoissonTVSettings(iterations=60, tv_weight=0.0))
    assert torch.all(total_variation(result, 1e-3) < total_variation(rough, 1e-3))


def weak_noisy_problem(count: int = 6):
    """Weak (0.15 rad), positive, compact phase objects at 50 e-/A^2 in 5.24 A pixels: the
    test particles' regime, where the measured modulus is mostly Poisson noise."""
    gen = torch.Generator().manual_seed(3)
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(H), indexing="ij")
    r = torch.hypot(yy - 15.5, xx - 15.5)
    noise = torch.randn(count, H, H, generator=gen, dtype=torch.float64)
    k2 = torch.fft.fftfreq(H)[:, None] ** 2 + torch.fft.fftfreq(H)[None, :] ** 2
    smooth = torch.fft.ifft2(torch.fft.fft2(noise) * torch.exp(-k2 / (2 * 0.06**2))).real
    blobs = (smooth - smooth.amin(dim=(1, 2), keepdim=True)) * (r < 10)
    truth = 0.15 * blobs / blobs.amax(dim=(1, 2), keepdim=True)
    op = MicroscopeForward(
        Optics(b_envelope_a2=100.0), (H, H), 5.24, 50.0, torch.linspace(10000.0, 25000.0, count)
    )
    return truth, op, op.sample(truth, torch.Generator().manual_seed(4))


def offset_mse(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    diff = estimate - truth
    return float(((diff - diff.mean(dim=(1, 2), keepdim=True)) ** 2).mean())


def test_constrained_rrr_beats_wiener_and_plain_rrr_on_weak_noisy_objects():
    truth, op, y = weak_noisy_problem()
    gen = torch.Generator().manual_seed(1)
    tuned = IterativeSettings(restarts=1, evaluations=60, support_radius=0.7)
    plain = IterativeSettings(
        restarts=1,
        iterations=60,
        support_radius=None,
        positivity=False,
        smoothing=None,
        patience=None,
    )
    fixed = iterative_phase_retrieval(y, op, tuned, gen).phase
    unconstrained = iterative_phase_retrieval(y, op, plain, gen)
    wiener = min(offset_mse(wiener_ctf_inverse(y, op, s), truth) for s in (0.3, 1.0, 3.0))
    # plain RRR fits the noise: deviance below the truth's, error above the Wiener filter's
    assert torch.all(unconstrained.deviance < poisson_deviance(y, op(truth)))
    assert offset_mse(unconstrained.phase, truth) > wiener
    assert offset_mse(fixed, truth) < 0.8 * wiener


def test_kept_iterate_is_the_lowest_deviance_restart():
    _, op, y = weak_noisy_problem(count=3)
    settings = IterativeSettings(restarts=3, iterations=15, patience=None)
    result = iterative_phase_retrieval(y, op, settings, torch.Generator().manual_seed(5))
    first = iterative_phase_retrieval(
        y,
        op,
        IterativeSettings(restarts=1, iterations=15, patience=None),
        torch.Generator().manual_seed(5),
    )
    assert torch.all(result.deviance <= first.deviance)  # restart 0 alone is a candidate set
    torch.testing.assert_close(result.deviance, torch.stack(result.history).amin(dim=0))
    torch.testing.assert_close(poisson_deviance(y, op(result.phase)), result.deviance)
