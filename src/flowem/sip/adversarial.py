"""Adversarial SIP (Multi-CryoGAN-style): a Wasserstein critic between observed and simulated
images, trained with the gradient penalty (WGAN-GP; the review's eq. 30).

The generator is either the SIP particles themselves (loss ``critic``) or a small network from
``z ~ N(0, I)`` to the parameters (``generator``); its draws go through the same simulator
with fresh noise and rotations, so no per-image pose is ever estimated. Each generator step
follows ``n_critic`` critic steps on ``E C(fake) - E C(real) + lambda E (|grad C(x_hat)| - 1)^2``
with ``x_hat`` a random interpolate of a real and a generated image; the generator then
minimises ``-E C(fake)`` through the simulator (autograd is its adjoint).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

Tensor = torch.Tensor
Forward = Callable[[Tensor, torch.Generator], Tensor]


class Critic(nn.Module):
    """Images ``(B, n, n)`` -> scores ``(B,)``: average pooling by ``pool`` (a fixed linear
    layer that also averages the pixel noise; at most to 8 x 8), three stride-2 convolutions
    (LeakyReLU), one linear layer.
    No normalisation layers: the gradient penalty is per sample."""

    def __init__(self, image_size: int, channels: int = 16, pool: int = 1) -> None:
        super().__init__()
        # pooling never below 8 x 8; small images get fewer convolutions (down to 1 x 1)
        self.pool = max(1, min(int(pool), image_size // 8))
        size = image_size // self.pool
        layers: list[nn.Module] = []
        c_in = 1
        for i in range(3):
            if size < 2:
                break
            c_out = channels * 2**i
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in, size = c_out, size // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * max(size, 1) ** 2, 1)

    def embed(self, images: Tensor) -> Tensor:
        """``(B, features)``: the convolutional trunk's output, flattened."""
        x = images.reshape(images.shape[0], 1, images.shape[-2], images.shape[-1])
        if self.pool > 1:
            x = nn.functional.avg_pool2d(x, self.pool)
        return self.features(x).flatten(1)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.embed(images))[:, 0]


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, eps: Tensor
) -> Tensor:
    """``mean_i (|grad_x C(x_hat_i)| - 1)^2`` at ``x_hat_i = eps_i real_i + (1 - eps_i) fake_i``
    (``eps`` ``(B,)`` in [0, 1]); differentiable in the critic's weights and both inputs."""
    shape = (-1,) + (1,) * (real.dim() - 1)
    x_hat = eps.reshape(shape) * real + (1 - eps.reshape(shape)) * fake
    if not x_hat.requires_grad:
        x_hat = x_hat.requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


class ParticleGenerator(nn.Module):
    """The SIP particles as a generator: ``theta = centre + scale * u`` with ``u`` learnt, so
    one Adam rate moves every parameter in units of its initial spread."""

    def __init__(self, initial: Tensor) -> None:
        super().__init__()
        self.register_buffer("centre", initial.mean(0))
        self.register_buffer("scale", initial.std(0).clamp_min(1e-6))
        self.u = nn.Parameter((initial - self.centre) / self.scale)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        if n >= self.u.shape[0]:
            return self.centre + self.scale * self.u
        rows = torch.randperm(self.u.shape[0], generator=generator)[:n]
        return self.centre + self.scale * self.u[rows]

    def draws(self, n: int, generator: torch.Generator) -> Tensor:
        """The recovered law's samples: the particles (``n`` is ignored)."""
        with torch.no_grad():
            return self.centre + self.scale * self.u


class NetworkGenerator(nn.Module):
    """``theta = centre + scale * MLP(z)``, ``z ~ N(0, I_d)``; centre and scale of the initial
    law, so the untrained network already draws parameters of the right size."""

    def __init__(self, initial: Tensor, hidden: int = 64) -> None:
        super().__init__()
        d = initial.shape[1]
        self.register_buffer("centre", initial.mean(0))
        self.register_buffer("scale", initial.std(0).clamp_min(1e-6))
        self.net = nn.Sequential(
            nn.Linear(d, hidden),
            nn.ELU(),
            nn.Linear(hidden, hidden),
            nn.ELU(),
            nn.Linear(hidden, d),
        )

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        z = torch.randn(n, self.centre.shape[0], generator=generator, dtype=self.centre.dtype)
        return self.centre + self.scale * self.net(z)

    def draws(self, n: int, generator: torch.Generator) -> Tensor:
        with torch.no_grad():
            return self.sample(n, generator)


@dataclass
class AdversarialResult:
    #: the generator's exponential moving average over iterations (the recovered law)
    generator: ParticleGenerator | NetworkGenerator
    critic: Critic
    history: list[dict[str, Any]] = field(default_factory=list)
    iterations: int = 0
    seconds: float = 0.0


def fit_adversarial(
    generator: ParticleGenerator | NetworkGenerator,
    forward: Forward,
    observed: Tensor,
    *,
    iterations: int,
    n_critic: int = 5,
    gp_weight: float = 10.0,
    batch_size: int = 64,
    lr: float = 0.01,
    critic_lr: float = 1e-3,
    critic_channels: int = 16,
    critic_pool: int = 1,
    average: float = 0.9,
    rng: torch.Generator,
    log_every: int = 50,
) -> AdversarialResult:
    """Alternate ``n_critic`` WGAN-GP critic steps and one generator step, ``iterations``
    times; every step simulates fresh images (new noise and rotations) of fresh draws.

    The result's generator is the exponential moving average (decay ``average``; 0: the last
    iterate) of the generator's weights: adversarial training circles about its equilibrium,
    and the average sits nearer it than any iterate (Yazici et al., ICLR 2019)."""
    critic = Critic(observed.shape[-1], critic_channels, critic_pool)
    # Adam with beta1 = 0.5, beta2 = 0.9 as in Gulrajani et al. (2017)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=critic_lr, betas=(0.5, 0.9))
    gen_opt = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.9))
    batch = min(batch_size, observed.shape[0])
    averaged = copy.deepcopy(generator).requires_grad_(False)
    result = AdversarialResult(averaged, critic)
    start = time.perf_counter()
    for it in range(1, iterations + 1):
        for _ in range(n_critic):
            with torch.no_grad():
                fake = forward(generator.sample(batch, rng), rng)
            # as many real images as generated ones (fewer particles than a batch: all)
            real = observed[torch.randperm(observed.shape[0], generator=rng)[: len(fake)]]
            eps = torch.rand(len(fake), generator=rng, dtype=real.dtype)
            wasserstein = critic(fake).mean() - critic(real).mean()
            loss = wasserstein + gp_weight * gradient_penalty(critic, real, fake, eps)
            critic_opt.zero_grad()
            loss.backward()
            critic_opt.step()
        gen_loss = -critic(forward(generator.sample(batch, rng), rng)).mean()
        gen_opt.zero_grad()
        gen_loss.backward()
        gen_opt.step()
        with torch.no_grad():
            for mean, current in zip(averaged.parameters(), generator.parameters(), strict=True):
                mean.lerp_(current, 1 - average)
        if not torch.isfinite(gen_loss):
            raise FloatingPointError(f"adversarial SIP diverged at iteration {it}")
        if it % log_every == 0 or it == iterations:
            result.history.append(
                {
                    "iteration": it,
                    "critic_wasserstein": -float(wasserstein.detach()),
                    "generator_loss": float(gen_loss.detach()),
                    "seconds": time.perf_counter() - start,
                }
            )
    result.iterations = iterations
    result.seconds = time.perf_counter() - start
    return result
