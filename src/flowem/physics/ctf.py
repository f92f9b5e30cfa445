"""Transfer function of the objective lens: defocus, astigmatism, Cs, envelope, aperture.

Conventions (SPEC sec. 3): defocus positive = underfocus, lengths in A, Cs in mm at the
interface, frequencies in 1/A. Aberration phase
``chi(k) = pi lambda df(theta) k^2 - (pi / 2) Cs lambda^3 k^4`` with
``df(theta) = (dU + dV) / 2 + (dU - dV) / 2 cos 2 (theta - theta_A)`` (RELION's U, V, angle).

Sign: the wave transfer function is ``H(k) = A(k) E(k) exp(+i chi(k))`` for numpy's FFT
(``exp(-2 pi i k r)`` forward) and a phase object ``exp(+i x)``. SPEC writes ``exp(-i chi)``;
with that sign an underfocused positive phase would image *bright* while amplitude contrast
images dark, so the two would partly cancel. With ``+i chi`` the weak-phase image is
``1 + 2 IFFT[X * ctf]``, ``ctf = -A E (sin chi + w cos chi)``: RELION's CTF up to the
contrast inversion of stored particles, and Kirkland's convention (his chi is minus ours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from flowem.physics.constants import electron_wavelength_a


@dataclass(frozen=True)
class Optics:
    """Microscope settings shared by all particles of a data set.

    Attributes:
        voltage_kv: acceleration voltage (kV).
        cs_mm: spherical aberration (mm).
        amplitude_contrast: ``w`` of the exit wave ``exp((i - w) x)`` (0.07 typical).
        b_envelope_a2: envelope ``exp(-B k^2 / 4)`` (A^2); 0 disables it.
        aperture_inv_a: objective aperture cut-off ``k_max`` (1/A); None: no aperture.
    """

    voltage_kv: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.07
    b_envelope_a2: float = 0.0
    aperture_inv_a: float | None = None

    @property
    def wavelength_a(self) -> float:
        return electron_wavelength_a(self.voltage_kv)


def frequency_grid(
    shape: tuple[int, int], pixel_size_a: float, dtype: torch.dtype = torch.float64, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(k, theta)`` on the unshifted 2D FFT grid of ``shape``: |k| in 1/A and its angle (rad)."""
    ky = torch.fft.fftfreq(shape[0], d=pixel_size_a, dtype=dtype, device=device)
    kx = torch.fft.fftfreq(shape[1], d=pixel_size_a, dtype=dtype, device=device)
    kyy, kxx = torch.meshgrid(ky, kx, indexing="ij")
    return torch.hypot(kxx, kyy), torch.atan2(kyy, kxx)


def aberration_phase(
    k: torch.Tensor,
    theta: torch.Tensor,
    optics: Optics,
    defocus_u_a: torch.Tensor,
    defocus_v_a: torch.Tensor,
    astigmatism_angle_deg: torch.Tensor,
    phase_shift_deg: torch.Tensor | None = None,
) -> torch.Tensor:
    """``chi`` (rad), shape ``(B, H, W)``, for per-particle defocus tensors of shape ``(B,)``.

    ``phase_shift_deg`` ``(B,)``: a phase plate's constant shift (RELION's ``rlnPhaseShift``),
    added to ``chi``; 90 degrees turns the weak-phase CTF ``-sin chi`` into ``-cos chi``.
    """
    lam = optics.wavelength_a
    cs_a = optics.cs_mm * 1e7
    du, dv, ang = (
        t.to(k.dtype).reshape(-1, 1, 1) for t in (defocus_u_a, defocus_v_a, astigmatism_angle_deg)
    )
    defocus = 0.5 * (du + dv) + 0.5 * (du - dv) * torch.cos(2.0 * (theta - torch.deg2rad(ang)))
    k2 = k * k
    chi = math.pi * lam * defocus * k2 - 0.5 * math.pi * cs_a * lam**3 * k2 * k2
    if phase_shift_deg is not None:
        chi = chi + torch.deg2rad(phase_shift_deg.to(k.dtype).reshape(-1, 1, 1))
    return chi


def envelope_and_aperture(k: torch.Tensor, optics: Optics) -> torch.Tensor:
    """Real factor ``A(k) E(k)``."""
    factor = torch.exp(-0.25 * optics.b_envelope_a2 * k * k)
    if optics.aperture_inv_a is not None:
        factor = factor * (k <= optics.aperture_inv_a).to(k.dtype)
    return factor


def wave_transfer_function(chi: torch.Tensor, k: torch.Tensor, optics: Optics) -> torch.Tensor:
    """Complex ``H = A E exp(+i chi)`` (see the module note on the sign)."""
    return torch.polar(envelope_and_aperture(k, optics).expand_as(chi), chi)


def linear_ctf(chi: torch.Tensor, k: torch.Tensor, optics: Optics) -> torch.Tensor:
    """Weak-phase contrast transfer ``-A E (sin chi + w cos chi)``: intensity ``1 + 2 ctf * x``."""
    w = optics.amplitude_contrast
    return -envelope_and_aperture(k, optics) * (torch.sin(chi) + w * torch.cos(chi))


def ctf_zero_frequencies(optics: Optics, defocus_a: float, count: int) -> list[float]:
    """First ``count`` frequencies (1/A) where the linear CTF vanishes, for one defocus.

    Zeros of ``sin chi + w cos chi`` are ``chi = n pi - atan(w)``; with ``u = k^2`` that is the
    quadratic ``(pi/2) Cs lambda^3 u^2 - pi lambda df u + (n pi - atan w) = 0`` (smaller root).
    """
    lam, cs_a = optics.wavelength_a, optics.cs_mm * 1e7
    a, b = 0.5 * math.pi * cs_a * lam**3, -math.pi * lam * defocus_a
    zeros = []
    n = 0
    while len(zeros) < count:
        c = n * math.pi - math.atan(optics.amplitude_contrast)
        n += 1
        if c <= 0:
            continue
        disc = b * b - 4 * a * c
        if disc < 0:
            break
        u = (-b - math.sqrt(disc)) / (2 * a) if a > 0 else c / -b
        zeros.append(math.sqrt(u))
    return zeros
