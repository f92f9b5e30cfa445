"""Data terms for count images: Poisson negative log-likelihood, deviance, intensity L2."""

from __future__ import annotations

import torch

_EPS = 1e-8


def poisson_nll(y: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Per-image ``sum(lambda - y log lambda)`` (constant ``log y!`` dropped), shape (B,)."""
    lam = expected.clamp_min(_EPS)
    return (lam - y * torch.log(lam)).sum(dim=(-2, -1))


def poisson_deviance(y: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Per-image mean Poisson deviance ``2 [y log(y / lambda) - (y - lambda)]`` per pixel, (B,).

    About 1 per pixel for a correct model at high counts; 0 for a perfect fit.
    """
    lam = expected.clamp_min(_EPS)
    term = torch.where(y > 0, y * torch.log(y.clamp_min(_EPS) / lam), torch.zeros_like(y))
    return (2.0 * (term - (y - lam))).mean(dim=(-2, -1))


def gaussian_intensity_loss(y: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """The paper's ``|| y - alpha |exp(i x) (x) h|^2 ||^2`` per image, shape (B,)."""
    return (y - expected).pow(2).sum(dim=(-2, -1))


LIKELIHOODS = {"poisson": poisson_nll, "l2": gaussian_intensity_loss}
