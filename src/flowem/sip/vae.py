"""Amortised variational SIP (CryoDRGN-style): an encoder from an image to a Gaussian
posterior over the parameters, the known simulator as the decoder.

``q(theta | y) = N(mu(y), diag s(y)^2)``; the decoder is the noise-free forward map at the
image's pose (given: the true rotation, as CryoDRGN takes poses from a consensus refinement;
the other SIP methods get none), the likelihood ``N(y; clean(theta, pose), sigma^2 I)`` at the
known noise level, the prior a Gaussian ``N(centre, diag scale^2)`` with the initial law's mean
and spread. Training maximises the ELBO ``E_q log p(y | theta) - KL(q || prior)`` over
minibatches with one reparameterised draw; the recovered law is the aggregate posterior
``(1/n) sum_i q(theta | y_i)``, sampled by drawing an image and then its posterior.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from flowem.sip.adversarial import Critic

Tensor = torch.Tensor
#: ``decode(theta (B, d), rows (B,)) -> clean images (B, ...)``: rows index the observed set,
#: so a decoder that needs poses reads the given pose of each image
Decoder = Callable[[Tensor, Tensor], Tensor]


class Encoder(nn.Module):
    """Image -> (mean, log-std) of ``q(theta | y)``: the critic's convolutional trunk with a
    ``2 d`` head; means in units of the prior's spread about its centre."""

    def __init__(
        self, image_size: int, centre: Tensor, scale: Tensor, channels: int = 16, pool: int = 1
    ) -> None:
        super().__init__()
        d = centre.shape[0]
        self.trunk = Critic(image_size, channels, pool)
        self.trunk.head = nn.Linear(self.trunk.head.in_features, 2 * d)
        nn.init.zeros_(self.trunk.head.weight)
        nn.init.zeros_(self.trunk.head.bias)
        self.register_buffer("centre", centre)
        self.register_buffer("scale", scale)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        out = self.trunk.head(self.trunk.embed(images))
        d = self.centre.shape[0]
        return self.centre + self.scale * out[:, :d], out[:, d:] + torch.log(self.scale)


def gaussian_kl(mean: Tensor, log_std: Tensor, prior_mean: Tensor, prior_std: Tensor) -> Tensor:
    """``KL(N(mean, diag e^{2 log_std}) || N(prior_mean, diag prior_std^2))`` per row."""
    var, prior_var = torch.exp(2 * log_std), prior_std**2
    terms = (var + (mean - prior_mean) ** 2) / prior_var - 1 - 2 * log_std + torch.log(prior_var)
    return 0.5 * terms.sum(1)


def elbo(
    encoder: Encoder,
    decode: Decoder,
    images: Tensor,
    rows: Tensor,
    sigma: float,
    generator: torch.Generator,
) -> Tensor:
    """Mean ELBO per image (nats, up to the Gaussian constant), one reparameterised draw."""
    mean, log_std = encoder(images)
    noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
    theta = mean + torch.exp(log_std) * noise
    residual = (images - decode(theta, rows)).flatten(1)
    log_likelihood = -residual.pow(2).sum(1) / (2 * sigma**2)
    return (log_likelihood - gaussian_kl(mean, log_std, encoder.centre, encoder.scale)).mean()


@dataclass
class VAEResult:
    encoder: Encoder
    history: list[dict[str, Any]] = field(default_factory=list)
    iterations: int = 0
    seconds: float = 0.0


def fit_vae(
    observed: Tensor,
    decode: Decoder,
    sigma: float,
    prior_centre: Tensor,
    prior_scale: Tensor,
    *,
    iterations: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    channels: int = 16,
    pool: int = 1,
    rng: torch.Generator,
    log_every: int = 50,
) -> VAEResult:
    """Adam on the negative ELBO over minibatches of ``observed``."""
    encoder = Encoder(observed.shape[-1], prior_centre, prior_scale, channels, pool)
    optimiser = torch.optim.Adam(encoder.parameters(), lr=lr)
    batch = min(batch_size, observed.shape[0])
    # the ELBO of an image sums over its pixels: scale the loss per pixel (same optimum) so
    # Adam's first steps are not dominated by the likelihood's size
    pixels = math.prod(observed.shape[1:])
    result = VAEResult(encoder)
    start = time.perf_counter()
    for it in range(1, iterations + 1):
        rows = torch.randperm(observed.shape[0], generator=rng)[:batch]
        value = elbo(encoder, decode, observed[rows], rows, sigma, rng)
        optimiser.zero_grad()
        (-value / pixels).backward()
        optimiser.step()
        if not torch.isfinite(value):
            raise FloatingPointError(f"VAE SIP diverged at iteration {it}")
        if it % log_every == 0 or it == iterations:
            record = {"iteration": it, "elbo": float(value.detach())}
            result.history.append({**record, "seconds": time.perf_counter() - start})
    result.iterations = iterations
    result.seconds = time.perf_counter() - start
    return result


@torch.no_grad()
def aggregate_posterior(
    encoder: Encoder, observed: Tensor, n: int, generator: torch.Generator, chunk: int = 256
) -> Tensor:
    """``n`` draws of ``(1/N) sum_i q(theta | y_i)``: a uniform image, then its posterior."""
    rows = torch.randint(observed.shape[0], (n,), generator=generator)
    draws = []
    for part in rows.split(chunk):
        mean, log_std = encoder(observed[part])
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        draws.append(mean + torch.exp(log_std) * noise)
    return torch.cat(draws)
