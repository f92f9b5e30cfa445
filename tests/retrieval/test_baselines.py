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
