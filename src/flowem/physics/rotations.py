"""Uniform random rotations on SO(3), reproducible from a seed."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def random_rotations(count: int, rng: np.random.Generator) -> Rotation:
    """``count`` rotations drawn uniformly (Haar measure) on SO(3) from ``rng``."""
    if count < 0:
        raise ValueError(f"rotation count must be >= 0, got {count}")
    if count == 0:
        return Rotation.from_quat(np.empty((0, 4)))
    return Rotation.random(count, random_state=rng)
