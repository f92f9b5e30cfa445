"""The phase plate's phase shift in the aberration phase and the weak-phase CTF."""

import math

import torch

from flowem.physics.ctf import Optics, aberration_phase, frequency_grid, linear_ctf

DEFOCUS = (
    torch.tensor([12000.0, 8000.0]),
    torch.tensor([11000.0, 8000.0]),
    torch.tensor([30.0, 0]),
)


def ctf(optics: Optics, phase_shift_deg=None) -> tuple[torch.Tensor, torch.Tensor]:
    k, theta = frequency_grid((48, 48), 1.5)
    chi = aberration_phase(k, theta, optics, *DEFOCUS, phase_shift_deg)
    return linear_ctf(chi, k, optics), chi


def test_quarter_wave_phase_shift_turns_minus_sine_into_minus_cosine():
    optics = Optics(amplitude_contrast=0.0)
    plain, chi = ctf(optics)
    shifted, _ = ctf(optics, torch.tensor([90.0, 90.0]))
    torch.testing.assert_close(plain, -torch.sin(chi))
    torch.testing.assert_close(shifted, -torch.cos(chi))
    # the plate's purpose: full contrast at k = 0, where a plain CTF transfers nothing
    assert shifted[:, 0, 0].tolist() == [-1.0, -1.0] and plain[:, 0, 0].abs().max() == 0


def test_phase_shift_is_per_particle_and_none_means_zero():
    optics = Optics()
    plain, _ = ctf(optics)
    torch.testing.assert_close(ctf(optics, torch.tensor([0.0, 0.0]))[0], plain)
    mixed, _ = ctf(optics, torch.tensor([0.0, 45.0]))
    torch.testing.assert_close(mixed[0], plain[0])
    assert (mixed[1] - plain[1]).abs().max() > 0.3


def test_phase_shift_sign_matches_relion():
    """RELION (ctf.h): ``-sin(K1 dF u^2 + K2 u^4 - K5 - K3)`` with ``dF = -defocus`` (its
    internal sign), ``K5`` the phase shift and ``tan K3 = Q0 / sqrt(1 - Q0^2)``: minus ours
    times ``cos K3`` when our ``w = tan K3`` (stored particles are contrast-inverted)."""
    q0, shift = 0.1, torch.tensor([35.0, 120.0])
    k3 = math.atan(q0 / math.sqrt(1 - q0 * q0))
    optics = Optics(amplitude_contrast=math.tan(k3))
    ours, _ = ctf(optics, shift)
    k, theta = frequency_grid((48, 48), 1.5)
    lam, cs_a = optics.wavelength_a, optics.cs_mm * 1e7
    du, dv, angle = (d.reshape(-1, 1, 1).double() for d in DEFOCUS)
    relion_df = -(0.5 * (du + dv) + 0.5 * (du - dv) * torch.cos(2 * (theta - torch.deg2rad(angle))))
    u2 = k * k
    argument = (
        math.pi * lam * relion_df * u2
        + 0.5 * math.pi * cs_a * lam**3 * u2 * u2
        - torch.deg2rad(shift.double()).reshape(-1, 1, 1)
        - k3
    )
    torch.testing.assert_close(-torch.sin(argument), -ours * math.cos(k3))
