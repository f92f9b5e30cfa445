"""The microscope forward operator: phase map -> expected electron counts (differentiable).

``psi_exit = exp((i - w) x)``, ``psi_img = IFFT(FFT(pad(psi_exit)) H)`` cropped back,
``lambda = alpha |psi_img|^2`` with ``alpha = dose * pixel_area`` (counts per pixel in vacuum),
measurement ``y ~ Poisson(lambda)``. The phase is zero-padded (vacuum: phase 0, exit wave 1)
so the point-spread function does not wrap around. One operator serves simulation, FlowDPS
and the baselines; it runs on CPU or GPU and in float32 or float64 (the input's precision).
"""

from __future__ import annotations

import math

import torch
from scipy import fft as sp_fft

from flowem.physics.ctf import (
    Optics,
    aberration_phase,
    frequency_grid,
    linear_ctf,
    wave_transfer_function,
)
from flowem.physics.noise import PoissonCounts
from flowem.physics.operators import Operator


def _as_batch(value, count: int | None = None) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
    if count is not None and tensor.numel() == 1:
        tensor = tensor.expand(count)
    return tensor


class MicroscopeForward(torch.nn.Module, Operator):
    """``A(x)``: expected counts of phase maps ``x`` (B, H, W) in radians; an
    :class:`~flowem.physics.operators.Operator` (nonlinear: no adjoint, no closed-form proximal
    step; Poisson counting noise).

    Args:
        optics: microscope settings.
        image_shape: ``(H, W)`` of the phase maps (pixels).
        pixel_size_a: pixel size (A).
        dose_e_per_a2: electron dose (e-/A^2); ``alpha = dose * pixel_size^2``.
        defocus_u_a, defocus_v_a, astigmatism_angle_deg: per-particle values, shape ``(B,)``
            or scalars (defocus_v defaults to defocus_u, the angle to 0).
        phase_shift_deg: phase-plate phase shift (RELION ``rlnPhaseShift``), per particle or
            one value; None: none.
        pad_factor: FFT size relative to the image (>= 1), against wrap-around.
    """

    def __init__(
        self,
        optics: Optics,
        image_shape: tuple[int, int],
        pixel_size_a: float,
        dose_e_per_a2: float,
        defocus_u_a,
        defocus_v_a=None,
        astigmatism_angle_deg=None,
        pad_factor: float = 2.0,
        phase_shift_deg=None,
    ) -> None:
        super().__init__()
        self.noise = PoissonCounts()
        if pad_factor < 1:
            raise ValueError(f"pad_factor must be >= 1, got {pad_factor}")
        if not (dose_e_per_a2 > 0 and pixel_size_a > 0):
            raise ValueError("dose and pixel size must be positive")
        self.optics = optics
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self.pixel_size_a = float(pixel_size_a)
        self.dose_e_per_a2 = float(dose_e_per_a2)
        self.alpha = self.dose_e_per_a2 * self.pixel_size_a**2
        self.padded_shape = tuple(
            sp_fft.next_fast_len(math.ceil(pad_factor * n)) for n in self.image_shape
        )
        du = _as_batch(defocus_u_a)
        dv = du if defocus_v_a is None else _as_batch(defocus_v_a, du.numel())
        ang = (
            torch.zeros_like(du)
            if astigmatism_angle_deg is None
            else _as_batch(astigmatism_angle_deg, du.numel())
        )
        k, theta = frequency_grid(self.padded_shape, self.pixel_size_a)
        chi = aberration_phase(k, theta, optics, du, dv, ang)
        if phase_shift_deg is not None:
            # a phase plate shifts the scattered wave against the unscattered beam (k = 0)
            shift = torch.deg2rad(_as_batch(phase_shift_deg, du.numel())).reshape(-1, 1, 1)
            chi = chi + shift.to(chi.dtype) * (k > 0)
        self.register_buffer("transfer", wave_transfer_function(chi, k, optics), persistent=False)
        self.register_buffer("ctf", linear_ctf(chi, k, optics), persistent=False)

    def _pad(self, field: torch.Tensor, fill: float) -> torch.Tensor:
        height, width = self.image_shape
        ph, pw = self.padded_shape
        return torch.nn.functional.pad(field, (0, pw - width, 0, ph - height), value=fill)

    def _crop(self, field: torch.Tensor) -> torch.Tensor:
        return field[..., : self.image_shape[0], : self.image_shape[1]]

    def exit_wave(self, phase: torch.Tensor) -> torch.Tensor:
        """``exp((i - w) x)`` on the padded grid (vacuum = 1)."""
        padded = self._pad(phase, 0.0)
        w = self.optics.amplitude_contrast
        return torch.exp(torch.complex(-w * padded, padded))

    def image_wave(self, phase: torch.Tensor) -> torch.Tensor:
        """``psi_img`` cropped to the image, complex."""
        transfer = self.transfer.to(
            torch.complex128 if phase.dtype == torch.float64 else torch.complex64
        )
        wave = torch.fft.ifft2(torch.fft.fft2(self.exit_wave(phase)) * transfer)
        return self._crop(wave)

    name = "microscope"

    def forward(self, phase: torch.Tensor) -> torch.Tensor:
        """Expected counts ``alpha |psi_img|^2``, shape of ``phase``."""
        self._check(phase)
        wave = self.image_wave(phase)
        return self.alpha * (wave.real**2 + wave.imag**2)

    def sample(self, phase: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A Poisson measurement ``y ~ Poisson(A(x))`` (counts, same dtype as ``phase``)."""
        return self.measure(phase, generator)

    def weak_phase_counts(self, phase: torch.Tensor) -> torch.Tensor:
        """Linearised image ``alpha (1 + 2 IFFT[FFT(x) ctf])`` (same padding as :meth:`forward`)."""
        self._check(phase)
        ctf = self.ctf.to(phase.dtype)
        filtered = torch.fft.ifft2(torch.fft.fft2(self._pad(phase, 0.0)) * ctf).real
        return self.alpha * (1.0 + 2.0 * self._crop(filtered))

    def _check(self, phase: torch.Tensor) -> None:
        if tuple(phase.shape[-2:]) != self.image_shape:
            raise ValueError(f"phase maps must be {self.image_shape}, got {tuple(phase.shape)}")
        batch = self.transfer.shape[0]
        if batch != 1 and (phase.ndim < 3 or phase.shape[-3] != batch):
            raise ValueError(f"{batch} defocus values but phase maps of shape {tuple(phase.shape)}")
