"""Classical iterative phase retrieval from one defocused image (Fresnel-zone style).

Alternating projections on the padded exit-wave grid (Pant, Lan, DeFrise and Elser,
arXiv:2105.12777; Elser's RRR; Fienup's HIO):

- ``P_M`` (measurement): propagate to the image plane, set the modulus to the measured
  ``sqrt(y / alpha)`` on the detector pixels (the padding is unmeasured and kept), propagate
  back with the pseudo-inverse of the transfer function;
- ``P_S`` (object): the exit wave of a phase object ``exp((i - w) x)`` with ``x`` the phase of
  the wave, and vacuum (``x = 0``) outside the image (and outside an optional circular support).

RRR: ``psi <- psi + beta (P_S(2 P_M psi - psi) - P_M psi)``; HIO: ``P_S P_M psi`` inside the
support, ``psi - beta (P_M psi - 1)`` outside. Several restarts (the first from the CTF
inversion, the others from random phases); the kept iterate is the one with the lowest Poisson
deviance seen so far, so its residual never increases.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from flowem.posterior.likelihood import poisson_deviance
from flowem.retrieval.ctf_inverse import wiener_ctf_inverse
from flowem.retrieval.grid import crop_to, image_mask, pad_to
from flowem.settings import check_at_least, check_choice, check_interval, check_positive


@dataclass(frozen=True)
class IterativeSettings:
    algorithm: str = "rrr"
    iterations: int = 60
    beta: float = 0.5
    restarts: int = 2
    support_radius: float | None = None  # fraction of the half-width; None: whole image
    init_snr: float = 1.0
    random_phase_std: float = 0.1  # rad, random restarts

    def __post_init__(self) -> None:
        section = "baselines.iterative"
        check_choice(self, section, "algorithm", ("rrr", "hio", "er"))
        check_at_least(self, section, 1, "iterations", "restarts")
        check_interval(self, section, "beta", 0, 1, open_low=True)
        if self.support_radius is not None:
            check_interval(self, section, "support_radius", 0, 1, open_low=True)
        check_positive(self, section, "init_snr")
        check_at_least(self, section, 0, "random_phase_std")

    def to_dict(self) -> dict:
        return asdict(self)


class _Projections:
    def __init__(self, y: torch.Tensor, operator, support_radius: float | None) -> None:
        self.operator = operator
        ctype = torch.complex128 if y.dtype == torch.float64 else torch.complex64
        self.transfer = operator.transfer.to(ctype)
        power = self.transfer.abs() ** 2
        self.inverse = torch.where(power > 1e-6, self.transfer.conj() / power.clamp_min(1e-6), 0)
        self.passed = power > 1e-6
        self.modulus = pad_to(torch.sqrt(y.clamp_min(0) / operator.alpha), operator.padded_shape)
        self.measured = image_mask(operator.image_shape, operator.padded_shape, y.device)
        self.support = self.measured.clone()
        if support_radius is not None:
            h, w = operator.image_shape
            yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            r = torch.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2).to(y.device)
            self.support[:h, :w] = r <= support_radius * min(h, w) / 2
        self.w = operator.optics.amplitude_contrast

    def measurement(self, psi: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.fft2(psi)
        wave = torch.fft.ifft2(spectrum * self.transfer)
        fitted = self.modulus * torch.exp(1j * torch.angle(wave))
        wave = torch.where(self.measured, fitted, wave)
        back = torch.fft.fft2(wave) * self.inverse
        return torch.fft.ifft2(torch.where(self.passed, back, spectrum))

    def object(self, psi: torch.Tensor) -> torch.Tensor:
        phase = torch.where(self.support, torch.angle(psi), torch.zeros_like(psi.real))
        return torch.exp(torch.complex(-self.w * phase, phase))

    def phase(self, psi: torch.Tensor) -> torch.Tensor:
        """The phase map (B, H, W) that a wave represents (vacuum outside the support)."""
        full = torch.where(self.support, torch.angle(psi), torch.zeros_like(psi.real))
        return crop_to(full, self.operator.image_shape)


def _deviance(y: torch.Tensor, operator, phase: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return poisson_deviance(y, operator(phase))


@dataclass
class IterativeResult:
    phase: torch.Tensor  # (B, H, W) radians, the kept iterate
    deviance: torch.Tensor  # (B,) its Poisson deviance per pixel
    history: list[torch.Tensor]  # kept deviance after each iteration of every restart


def iterative_phase_retrieval(
    y: torch.Tensor, operator, settings: IterativeSettings, generator: torch.Generator
) -> IterativeResult:
    """The best phase over all restarts and iterations, by Poisson deviance."""
    proj = _Projections(y, operator, settings.support_radius)
    start = pad_to(wiener_ctf_inverse(y, operator, settings.init_snr), operator.padded_shape)
    best_phase = crop_to(start, operator.image_shape).clone()
    best_dev = _deviance(y, operator, best_phase)
    history = [best_dev]
    for restart in range(settings.restarts):
        if restart == 0:
            init = start
        else:
            noise = torch.randn(start.shape, generator=generator, dtype=torch.float64)
            init = (settings.random_phase_std * noise).to(y.dtype).to(y.device)
        psi = proj.object(torch.exp(1j * init.to(torch.float64)).to(proj.transfer.dtype))
        for _ in range(settings.iterations):
            pm = proj.measurement(psi)
            if settings.algorithm == "rrr":
                psi = psi + settings.beta * (proj.object(2 * pm - psi) - pm)
                estimate = pm
            elif settings.algorithm == "hio":
                inside = proj.object(pm)
                psi = torch.where(proj.support, inside, psi - settings.beta * (pm - 1.0))
                estimate = inside
            else:  # error reduction
                psi = proj.object(pm)
                estimate = psi
            phase = proj.phase(proj.object(estimate))
            dev = _deviance(y, operator, phase)
            better = dev < best_dev
            best_phase = torch.where(better[:, None, None], phase, best_phase)
            best_dev = torch.minimum(dev, best_dev)
            history.append(best_dev)
    return IterativeResult(best_phase, best_dev, history)
