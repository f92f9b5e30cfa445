"""3D axial super-resolution: a 2D slice prior applied to the volume, one axis per step.

The state is a volume (1, 1, D, H, W) on the fine z grid. Step ``k`` slices it along axis
``ORIENTATIONS[k % 3]`` (xz planes, yz planes, xy planes in turn) and evaluates the 2D prior on
those slices in batches (:class:`CyclingSlicedVelocity`); the operator is z-decimation of the
volume (``Decimate(k, dim=-3)``). Planes that contain z carry the data term; on xy steps the
update is the prior's alone (data weight 0), since an xy plane is either measured exactly or not
at all. The sampling itself is the one loop of :mod:`flowem.posterior` with the sampler's data
step, its schedule masked on xy steps.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from flowem.physics.operators import Decimate
from flowem.posterior.sampler import Velocity, run
from flowem.posterior.settings import SamplerSettings

# Volume dims (D, H, W) = (z, y, x): slicing along y gives xz planes, along x yz, along z xy.
ORIENTATIONS = (1, 2, 0)
PLANE_NAMES = {0: "xy", 1: "xz", 2: "yz"}


class SlicedVelocity:
    """``v`` of a volume (1, 1, D, H, W): the 2D ``velocity`` on every slice along ``axis``."""

    def __init__(self, velocity: Velocity, axis: int, batch_size: int = 32) -> None:
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


def step_index(t: float, steps: int) -> int:
    """The index ``k`` of grid time ``t = k / steps``."""
    return round(float(t) * steps)


def axis_at(t: float, steps: int) -> int:
    """The slicing axis of the step at time ``t`` of a uniform ``steps`` grid."""
    return ORIENTATIONS[step_index(t, steps) % len(ORIENTATIONS)]


class CyclingSlicedVelocity:
    """:class:`SlicedVelocity` whose axis cycles with the step of a uniform ``steps`` grid."""

    def __init__(self, velocity: Velocity, steps: int, batch_size: int = 32) -> None:
        self.velocity, self.steps, self.batch_size = velocity, int(steps), int(batch_size)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        axis = axis_at(float(t[0]), self.steps)
        return SlicedVelocity(self.velocity, axis, self.batch_size)(x, t)


def fine_depth(measured_depth: int, factor: int) -> int:
    """Fine-grid depth whose decimation by ``factor`` gives ``measured_depth`` planes."""
    return (measured_depth - 1) * factor + 1


def axial_sample(
    velocity: Velocity,
    noise: torch.Tensor,
    y: torch.Tensor,
    factor: int,
    settings: SamplerSettings,
    generator: torch.Generator | None = None,
    batch_size: int = 32,
    scale: float = 1.0,
    noise_std: float = 0.0,
) -> torch.Tensor:
    """Axial super-resolution of ``y`` (1, 1, d, H, W) from ``noise`` (1, 1, D, H, W).

    ``settings.method`` is ``si``, ``pnp`` or ``dc`` (DPS through a whole volume is not
    offered); ``y`` and the result are in physical units (``scale``: network -> physical);
    ``noise_std`` is the noise of the measured planes (``dc``; 0: imposed exactly).
    """
    if settings.method == "dps":
        raise ValueError("axial_sample supports the 'si', 'pnp' and 'dc' updates")
    steps = settings.steps
    base = settings.data_step()

    def masked(t: float) -> float:
        return base.schedule(t) if axis_at(t, steps) != 0 else 0.0

    term = settings.data_term(Decimate(factor, dim=-3), y, scale, noise_std)
    sliced = CyclingSlicedVelocity(velocity, steps, batch_size)
    progress = "axial" if settings.progress else False
    out = run(
        sliced, noise, term, replace(base, schedule=masked), settings.grid(), generator, progress
    )
    return scale * out
