"""The protein normal-mode forward map (SPEC §7, experiment 3).

Structure: C-alpha atoms of the chosen chains (Hsp90, PDB 2CG9 chains A+B: 1,227 atoms),
centred. Conformations ``G(theta) = x0 + sum_i theta_i u_i`` along the lowest non-trivial ANM
modes ``u_i`` (ProDy Hessian, cutoff 15 A, unit-norm ``(n_atoms * 3)`` vectors, eigenvalues
``lambda_i`` ascending, gamma = 1), so ``theta_i`` is in angstrom of total displacement.
Image: a uniform random rotation on SO(3), projection along z with every atom a 2D Gaussian of
width ``atom_sigma_a`` on an ``n x n`` grid of ``pixel_size_a``, then ``N(0, noise_sigma^2)``.

Signal scale: atoms have a common amplitude chosen so that the root-mean-square over all pixels
of the noise-free projection of the rest structure ``G(0)``, averaged over rotations, equals
``signal_rms`` (default 1, with ``noise_sigma`` = 1: per-pixel SNR 1 in power over the box).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from flowem.errors import InputFileError
from flowem.physics.rotations import random_rotations

Tensor = torch.Tensor
log = logging.getLogger("flowem.sip")
__all__ = ["NormalModeProjector", "load_calpha"]


def load_calpha(path: str | Path, chains: str = "AB") -> np.ndarray:
    """``(n_atoms, 3)`` centred C-alpha coordinates (angstrom) of ``chains`` in ``path``."""
    import prody

    prody.confProDy(verbosity="none")
    structure = prody.parsePDB(str(path))
    if structure is None:
        raise InputFileError(path, "not a readable PDB file")
    selection = structure.select(f"protein and name CA and chain {' '.join(chains)}")
    if selection is None or selection.numAtoms() < 3:
        raise InputFileError(path, f"fewer than 3 C-alpha atoms in chains {chains!r}")
    coords = selection.getCoords().astype(np.float64)
    return coords - coords.mean(axis=0)


class NormalModeProjector:
    """``theta (N, k) -> images (N, n, n)``: deform along modes, rotate, project, add noise."""

    def __init__(
        self,
        coords: np.ndarray,
        modes: np.ndarray,
        *,
        pixel_size_a: float = 1.2,
        grid_size: int = 128,
        atom_sigma_a: float = 2.0,
        noise_sigma: float = 1.0,
        signal_rms: float = 1.0,
        calibration_rotations: int = 64,
    ) -> None:
        if min(pixel_size_a, atom_sigma_a, signal_rms) <= 0 or noise_sigma < 0 or grid_size < 2:
            raise ValueError("need positive pixel size, atom width and signal, noise >= 0")
        self.coords = torch.as_tensor(coords, dtype=torch.float32)
        self.modes = torch.as_tensor(modes, dtype=torch.float32)
        self.pixel_size_a, self.grid_size = float(pixel_size_a), int(grid_size)
        self.atom_sigma_a, self.noise_sigma = float(atom_sigma_a), float(noise_sigma)
        self.axis = (torch.arange(grid_size, dtype=torch.float32) - grid_size / 2) * pixel_size_a
        self.amplitude = 1.0
        gen = torch.Generator().manual_seed(12345)
        rest = torch.zeros(calibration_rotations, self.modes.shape[0])
        rotations = torch.as_tensor(random_rotations(calibration_rotations, gen).as_matrix())
        rms = self.clean(rest, rotations.float()).pow(2)
        self.amplitude = float(signal_rms / rms.mean(dim=(1, 2)).sqrt().mean())

    def conformations(self, theta: Tensor) -> Tensor:
        """``(N, n_atoms, 3)`` coordinates ``x0 + sum_i theta_i u_i`` in angstrom."""
        return self.coords + torch.einsum("nk,kac->nac", theta, self.modes.to(theta.dtype))

    def clean(self, theta: Tensor, rotations: Tensor) -> Tensor:
        """Noise-free projections of ``theta`` under ``rotations`` ``(N, 3, 3)``."""
        xyz = torch.einsum("nij,naj->nai", rotations.to(theta.dtype), self.conformations(theta))
        axis = self.axis.to(theta.dtype)
        scale = 2 * self.atom_sigma_a**2
        ex = torch.exp(-((xyz[..., 0:1] - axis) ** 2) / scale)  # (N, atoms, n)
        ey = torch.exp(-((xyz[..., 1:2] - axis) ** 2) / scale)
        return self.amplitude * torch.bmm(ex.transpose(1, 2), ey)

    def __call__(self, theta: Tensor, generator: torch.Generator) -> Tensor:
        rotations = torch.as_tensor(random_rotations(theta.shape[0], generator).as_matrix())
        clean = self.clean(theta, rotations)
        noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype)
        return clean + self.noise_sigma * noise
