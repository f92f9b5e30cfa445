"""Uniform random rotations on SO(3), reproducible from a seed."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation


def random_rotations(count: int, generator: np.random.Generator | torch.Generator) -> Rotation:
    """``count`` rotations drawn uniformly (Haar measure) on SO(3): normalised 4D Gaussians.

    The quaternions come from ``generator``: a numpy generator draws ``normal(size=(count, 4))``
    read as ``(x, y, z, w)`` (the stream of scipy's ``Rotation.random``); a torch generator
    (forward maps that draw their noise from it too) draws ``randn(count, 4)`` in float64, read
    as ``(w, x, y, z)``. ``as_matrix()`` gives the ``(count, 3, 3)`` matrices.
    """
    if count < 0:
        raise ValueError(f"rotation count must be >= 0, got {count}")
    if isinstance(generator, torch.Generator):
        wxyz = torch.randn(count, 4, generator=generator, dtype=torch.float64).numpy()
        return Rotation.from_quat(np.roll(wxyz, -1, axis=1))
    return Rotation.from_quat(generator.normal(size=(count, 4)))
