"""Reference projection: rotate the atoms and sum their projected 2D Gaussians on the grid.

Each Gaussian of an atom integrates along z to
``V_z(x, y) = 47.878 V A^2 * a_i (4 pi / b_i) exp(-4 pi^2 ((x - x0)^2 + (y - y0)^2) / b_i)``
(V A), sampled at pixel centres. Slow (every atom, every map) but exact up to sampling.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from flowem.physics.atoms import ScatteringAtoms
from flowem.physics.constants import POTENTIAL_PREFACTOR_V_A2
from flowem.physics.potential import gaussian_radius_a


def pixel_coordinates_a(size: int, pixel_size_a: float) -> np.ndarray:
    """Pixel-centre coordinates (A) along one axis; pixel ``size // 2`` is the origin."""
    return (np.arange(size) - size // 2) * pixel_size_a


def analytic_projection(
    atoms: ScatteringAtoms,
    rotation: Rotation,
    size: int,
    pixel_size_a: float,
    rel_cutoff: float = 1e-7,
) -> np.ndarray:
    """Projected potential ``V_z = int V(R^T r) dz`` in V A on a ``(size, size)`` grid ``(y, x)``.

    ``rotation`` is one rotation ``R`` applied to the centred atoms; the centroid projects to
    pixel ``(size // 2, size // 2)``. Gaussians are truncated where they fall below
    ``rel_cutoff`` of their peak.
    """
    rotated = rotation.apply(atoms.positions_a)
    image = np.zeros(size * size)
    for component in range(atoms.coeff_b.shape[1]):
        b = atoms.coeff_b[:, component]
        amplitude = POTENTIAL_PREFACTOR_V_A2 * atoms.coeff_a[:, component] * (4.0 * math.pi / b)
        radius_px = math.ceil(gaussian_radius_a(float(b.max()), rel_cutoff) / pixel_size_a)
        offsets = np.arange(-radius_px, radius_px + 1)
        gx, ix = _window(rotated[:, 0], b, offsets, size, pixel_size_a)
        gy, iy = _window(rotated[:, 1], b, offsets, size, pixel_size_a)
        weights = amplitude[:, None, None] * gy[:, :, None] * gx[:, None, :]
        flat = iy[:, :, None] * size + ix[:, None, :]
        image += np.bincount(flat.ravel(), weights.ravel(), minlength=size * size)
    return image.reshape(size, size)


def _window(
    coord_a: np.ndarray, b: np.ndarray, offsets: np.ndarray, size: int, pixel_size_a: float
) -> tuple[np.ndarray, np.ndarray]:
    """1D Gaussian factors and pixel indices of each atom's window; outside pixels get weight 0."""
    centre_px = np.rint(coord_a / pixel_size_a).astype(np.int64) + size // 2
    index = centre_px[:, None] + offsets[None, :]
    distance = index * pixel_size_a - (coord_a[:, None] + (size // 2) * pixel_size_a)
    factor = np.exp(-4.0 * math.pi**2 * distance**2 / b[:, None])
    inside = (index >= 0) & (index < size)
    return np.where(inside, factor, 0.0), np.clip(index, 0, size - 1)
