"""What the image runs share: noisy simulation in batches, the reported distance and the
particle flow configured by a run's settings."""

from __future__ import annotations

import numpy as np
import torch

from flowem.metrics.energy import energy_distance
from flowem.sip.experiments import Experiment
from flowem.sip.flow import FlowResult, run_flow
from flowem.sip.losses import SampleLoss
from flowem.sip.settings import FlowSettings


def to_tensor(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values), dtype=torch.float32)


@torch.no_grad()
def simulate(exp: Experiment, theta: np.ndarray, gen: torch.Generator, batch: int = 256):
    """Noisy data of parameters ``theta`` (one fresh omega each), in batches, as a tensor."""
    return torch.cat(
        [
            exp.forward(to_tensor(chunk), gen)
            for chunk in np.array_split(theta, max(1, len(theta) // batch))
        ]
    )


def reported_energy(a, b, chunk_size: int = 512) -> float:
    """Reported squared energy distance: the unbiased U-statistic (SPEC section 7), so sets of
    different sizes from one law score 0 on average; float64 for parameters, float32 (GEMM)
    for images. (Training may use either estimator: ``sip.loss``.)"""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    dtype = torch.float64 if a.reshape(len(a), -1).shape[1] <= 16 else torch.float32
    with torch.no_grad():
        distance = energy_distance(a.to(dtype), b.to(dtype), chunk_size=chunk_size, unbiased=True)
        return float(distance)


def fit_flow(
    exp: Experiment,
    s: FlowSettings,
    initial: np.ndarray,
    observed: torch.Tensor,
    loss: SampleLoss,
    generator: torch.Generator,
    monitor,
    progress: bool,
    desc: str,
) -> FlowResult:
    """The particle flow of ``exp`` from ``initial`` with the rate, length, minibatch and
    logging of ``s``."""
    return run_flow(
        to_tensor(initial),
        exp.forward,
        observed,
        loss,
        lr=s.lr,
        iterations=s.iterations,
        generator=generator,
        batch_size=s.batch_size,
        log_every=s.log_every,
        monitor=monitor,
        progress=progress,
        desc=desc,
    )
