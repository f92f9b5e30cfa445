"""Exit-wave phase maps ``x = sigma_e * V_z`` (radians) of an atomic model, full size and binned."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.spatial.transform import Rotation

from flowem.physics.atoms import ScatteringAtoms
from flowem.physics.binning import bin_mean
from flowem.physics.constants import interaction_constant
from flowem.physics.fourier_slice import FourierSliceProjector


@dataclass(frozen=True)
class PhaseMapGeometry:
    """Sampling of the phase maps.

    Attributes:
        size_px: side of the full-resolution maps (pixels); 256 in the paper.
        pixel_size_a: full-resolution pixel size (A); 1.31 (EMPIAR-10025 after binning).
        bin_factor: block averaging to the working size (4: 256 -> 64 at 5.24 A/px).
        voltage_kv: sets ``sigma_e``.
        pad_factor: zero-padding of the potential before its 3D FFT.
        interpolation_order: B-spline order of the Fourier-slice interpolation (2 or 3).
    """

    size_px: int = 256
    pixel_size_a: float = 1.31
    bin_factor: int = 4
    voltage_kv: float = 300.0
    pad_factor: float = 2.0
    interpolation_order: int = 3

    def __post_init__(self) -> None:
        if self.size_px % (2 * self.bin_factor):
            raise ValueError(
                f"size_px {self.size_px} must be a multiple of 2 * bin_factor ({self.bin_factor})"
            )

    @property
    def working_size_px(self) -> int:
        return self.size_px // self.bin_factor

    @property
    def working_pixel_size_a(self) -> float:
        return self.pixel_size_a * self.bin_factor


class PhaseMapSimulator:
    """Phase maps of one structure along arbitrary rotations (Fourier-slice projections);
    ``ice_potential_v`` > 0 (V): of its excess potential in ice (:mod:`flowem.physics.solvent`).
    """

    def __init__(
        self,
        atoms: ScatteringAtoms,
        geometry: PhaseMapGeometry,
        device: str | torch.device = "cpu",
        ice_potential_v: float = 0.0,
    ) -> None:
        self.geometry = geometry
        self.sigma_e = interaction_constant(geometry.voltage_kv)
        self.projector = FourierSliceProjector.from_atoms(
            atoms,
            geometry.pixel_size_a,
            geometry.size_px,
            pad_factor=geometry.pad_factor,
            order=geometry.interpolation_order,
            device=device,
            ice_potential_v=ice_potential_v,
        )

    def full_resolution(self, rotations: Rotation) -> torch.Tensor:
        """``(B, size, size)`` phase in radians at ``pixel_size_a``."""
        return self.sigma_e * self.projector.project(rotations)

    def binned(self, rotations: Rotation) -> torch.Tensor:
        """``(B, size / bin, size / bin)`` phase in radians at the working pixel size."""
        return bin_mean(self.full_resolution(rotations), self.geometry.bin_factor)
