"""3D axial super-resolution: a 2D slice prior applied to the volume, one axis per step.

The state is a volume (1, 1, D, H, W) on the fine z grid. Step ``k`` slices it along axis
``ORIENTATIONS[k % 3]`` (xz planes, yz planes, xy planes in turn) and evaluates the 2D prior on
those slices in batches; the operator is z-decimation of the volume (``Decimate(k, dim=-3)``).
Planes that contain z carry the data term; on xy steps the update is the prior's alone
(``gamma = 0``), since an xy plane is either measured exactly or not at all.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from flowem.restore.operators import Decimate
from flowem.restore.samplers import SamplerSettings, VelocityField, dc_step, pnp_step, si_step

# Volume dims (D, H, W) = (z, y, x): slicing along y gives xz planes, along x yz, along z xy.
ORIENTATIONS = (1, 2, 0)
PLANE_NAMES = {0: "xy", 1: "xz", 2: "yz"}


class SlicedVelocity:
    """``v`` of a volume (1, 1, D, H, W): the 2D ``velocity`` on every slice along ``axis``."""

    def __init__(self, velocity: VelocityField, axis: int, batch_size: int = 32) -> None:
        self.velocity, self.axis, self.batch_size = velocity, int(axis), int(batch_size)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        planes = x[0, 0].movedim(self.axis, 0).unsqueeze(1)  # (n, 1, a, b)
        times = t[:1].expand(len(planes))
        step = self.batch_size
        out = torch.cat(
            [
                self.velocity(planes[i : i + step], times[i : i + step])
                for i in range(0, len(planes), step)
            ]
        )
        return out[:, 0].movedim(0, self.axis)[None, None]


def fine_depth(measured_depth: int, factor: int) -> int:
    """Fine-grid depth whose decimation by ``factor`` gives ``measured_depth`` planes."""
    return (measured_depth - 1) * factor + 1


def axial_sample(
    velocity: VelocityField,
    noise: torch.Tensor,
    y: torch.Tensor,
    factor: int,
    settings: SamplerSettings,
    generator: torch.Generator | None = None,
    batch_size: int = 32,
    noise_std: float = 0.0,
) -> torch.Tensor:
    """Axial super-resolution of ``y`` (1, 1, d, H, W) from ``noise`` (1, 1, D, H, W).

    ``settings.method`` is ``si``, ``pnp`` or ``dc`` (DPS through a whole volume is not
    offered); ``noise_std`` is the noise of the measured planes (``dc``; 0: imposed exactly).
    """
    if settings.method == "dps":
        raise ValueError("axial_sample supports the 'si', 'pnp' and 'dc' updates")
    operator = Decimate(factor, dim=-3)
    steps, x, noise_hat = settings.steps, noise, noise
    dt = 1.0 / steps
    for k in tqdm(range(steps), disable=not settings.progress, desc="axial"):
        t, axis = k * dt, ORIENTATIONS[k % len(ORIENTATIONS)]
        sliced = SlicedVelocity(velocity, axis, batch_size)
        gamma = settings.gamma(t) if axis != 0 else 0.0
        if settings.method == "si":
            x = si_step(sliced, x, t, dt, operator, y, gamma)
        elif settings.method == "dc":
            weight = settings.data_weight(t, noise_std) if gamma else 0.0
            x = dc_step(sliced, x, t, dt, operator, y, weight, settings.eta, generator)
        else:
            eta = settings.eta if k else 0.0
            x, noise_hat = pnp_step(sliced, x, noise_hat, t, operator, y, gamma, eta, generator)
    return x
