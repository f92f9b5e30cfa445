"""A counting detector: modulation transfer function applied to the expected counts.

Model (what is and is not included): each electron is recorded at its arrival position
blurred by the detector's point-spread function and counted once in the pixel it lands in.
The recorded counts are then Poisson with the expected counts *filtered by the MTF*,
``y ~ Poisson(IFFT[MTF * FFT(lambda)])``, so their noise power spectrum is white and the
detective quantum efficiency is ``DQE(w) = MTF(w)^2`` with ``DQE(0) = 1`` (coincidence loss
and dark noise are not modelled).

MTF of an ideal counting detector with square pixels is the pixel aperture
``sinc(pi w / 2)`` (``w`` = frequency / Nyquist; McMullan et al. 2009, Ultramicroscopy 109,
1126, whose ideal counting detector has ``DQE = sinc^2``). The spread of each event's
recorded position adds a Gaussian factor ``exp(-w^2 / (2 s^2))``: our one-parameter choice
(not a published fit), with ``s = 1.5`` giving MTF(Nyquist) = 0.51 and DQE(Nyquist) = 0.26,
about what McMullan et al. 2014 (Ultramicroscopy 147, 156) report for a K2 Summit in
counting mode at 300 kV.
"""

from __future__ import annotations

import math

import torch

from flowem.physics.ctf import frequency_grid


def counting_mtf(
    shape: tuple[int, int], pixel_size_a: float, sigma_nyquist: float, dtype=torch.float64
) -> torch.Tensor:
    """``MTF = sinc(pi w / 2) exp(-w^2 / (2 s^2))`` on the unshifted FFT grid, separable sinc
    (square pixel) in ``w = 2 * pixel * k`` per axis; ``sigma_nyquist = inf``: no spread."""
    ky = torch.fft.fftfreq(shape[0], dtype=dtype) * 2.0  # fraction of Nyquist
    kx = torch.fft.fftfreq(shape[1], dtype=dtype) * 2.0
    aperture = torch.sinc(ky / 2.0)[:, None] * torch.sinc(kx / 2.0)[None, :]
    k, _ = frequency_grid(shape, pixel_size_a, dtype=dtype)
    w = 2.0 * pixel_size_a * k
    spread = torch.exp(-0.5 * (w / sigma_nyquist) ** 2) if math.isfinite(sigma_nyquist) else 1.0
    return aperture * spread


def apply_mtf(image: torch.Tensor, pixel_size_a: float, sigma_nyquist: float) -> torch.Tensor:
    """``IFFT[MTF * FFT(image)]`` over the last two axes (same dtype; periodic)."""
    mtf = counting_mtf(tuple(image.shape[-2:]), pixel_size_a, sigma_nyquist).to(image.device)
    spectrum = torch.fft.fft2(image.to(torch.float64)) * mtf
    return torch.fft.ifft2(spectrum).real.to(image.dtype)
