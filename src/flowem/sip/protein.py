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
import scipy.sparse
import scipy.sparse.linalg
import torch

from flowem.errors import InputFileError
from flowem.physics.rotations import random_rotations

Tensor = torch.Tensor
log = logging.getLogger("flowem.sip")
N_TRIVIAL_MODES = 6


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


def anm_modes(
    coords: np.ndarray, cutoff_a: float = 15.0, n_modes: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Lowest non-trivial ANM modes: eigenvalues ``(k,)`` ascending, unit modes ``(k, n, 3)``.

    The Hessian is ProDy's; the eigenpairs come from sparse shift-invert Lanczos near 0, which
    is ~15x faster than ProDy's ``calcModes`` on 1,227 atoms. Each mode's sign is fixed so
    that its largest-magnitude component is positive (reproducible outputs).
    """
    import prody

    prody.confProDy(verbosity="none")
    anm = prody.ANM("sip")
    anm.buildHessian(np.asarray(coords, dtype=float), cutoff=cutoff_a)
    hessian = scipy.sparse.csc_matrix(anm.getHessian())
    k = min(n_modes + N_TRIVIAL_MODES, hessian.shape[0] - 1)
    v0 = np.ones(hessian.shape[0]) / np.sqrt(hessian.shape[0])
    values, vectors = scipy.sparse.linalg.eigsh(hessian, k=k, sigma=-1e-4, which="LM", v0=v0)
    order = np.argsort(values)
    values, vectors = values[order], vectors[:, order]
    nontrivial = values > 1e-6 * max(values.max(), 1e-12)
    values, vectors = values[nontrivial][:n_modes], vectors[:, nontrivial][:, :n_modes]
    if values.shape[0] < n_modes:
        raise ValueError(f"only {values.shape[0]} non-trivial modes found, {n_modes} wanted")
    peak = vectors[np.abs(vectors).argmax(axis=0), np.arange(n_modes)]
    vectors = vectors * np.sign(peak)
    return values, vectors.T.reshape(n_modes, -1, 3)


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
