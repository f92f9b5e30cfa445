"""Linear weak-phase (CTF) inversion by Wiener / Tikhonov filtering.

For a weak phase object the expected counts are ``alpha (1 + 2 IFFT[X ctf])``; given the
contrast ``d = y / alpha - 1`` the Tikhonov-regularised solution of ``2 ctf X = D`` is
``X = D ctf / (2 (ctf^2 + 1 / snr))`` — the standard CTF-based reconstruction (Wiener filter
with a flat signal-to-noise ratio ``snr``).
"""

from __future__ import annotations

import torch

from flowem.retrieval.grid import crop_to, pad_to


def wiener_ctf_inverse(y: torch.Tensor, operator, snr: float = 1.0) -> torch.Tensor:
    """Phase (B, H, W) in radians from counts ``y`` (B, H, W) by Wiener CTF inversion."""
    if not snr > 0:
        raise ValueError(f"snr must be positive, got {snr}")
    contrast = y / operator.alpha - 1.0
    spectrum = torch.fft.fft2(pad_to(contrast, operator.padded_shape))
    ctf = operator.ctf.to(y.dtype)
    estimate = spectrum * ctf / (2.0 * (ctf * ctf + 1.0 / snr))
    return crop_to(torch.fft.ifft2(estimate).real, operator.image_shape)
