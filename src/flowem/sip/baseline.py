"""Discretise-then-optimise baseline (RELION-style): K discrete states by maximum likelihood.

The structure law is a mixture of K Dirac states with weights ``pi``; the nuisance variables
(rotations) are discretised too, to a fixed set of M. Each observed image's likelihood is
``sum_k pi_k (1/M) sum_m N(y; mu_km, sigma^2 I)`` with ``mu_km`` the noise-free image of state
k under nuisance m. States and weight logits are fitted by Adam on the mean log-likelihood of
minibatches of the same observed images the particle flow sees.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

Tensor = torch.Tensor


@dataclass
class DiscreteStates:
    states: Tensor  # (K, d)
    weights: Tensor  # (K,)
    log_likelihood: float  # mean per image, up to the Gaussian constant
    seconds: float

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, d)`` draws from the fitted discrete law."""
        p = self.weights.double().numpy()
        idx = rng.choice(len(p), size=n, p=p / p.sum())
        return self.states.detach().numpy()[idx]


def _mixture_log_likelihood(
    means: Tensor, log_weights: Tensor, images: Tensor, sigma: float
) -> Tensor:
    """Mean over ``images`` ``(B, D)`` of log sum_k pi_k mean_m N(y; means[k, m], sigma^2)."""
    k, m, _ = means.shape
    flat = means.reshape(k * m, -1)
    d2 = (
        images.pow(2).sum(1, keepdim=True) - 2 * images @ flat.T + flat.pow(2).sum(1)[None]
    ).reshape(-1, k, m)
    log_terms = -d2 / (2 * sigma**2) + log_weights[None, :, None] - math.log(m)
    return torch.logsumexp(log_terms.reshape(images.shape[0], -1), dim=1).mean()


def fit_discrete_states(
    clean: Callable[[Tensor], Tensor],
    observed: Tensor,
    initial_states: Tensor,
    noise_sigma: float,
    *,
    iterations: int,
    lr: float,
    generator: torch.Generator,
    batch_size: int | None = None,
    progress: bool = True,
) -> DiscreteStates:
    """Maximum-likelihood K-state mixture; ``clean(states (K, d)) -> (K, M, D)`` mean images.

    Each parameter's step size is ``lr`` times the spread of the initial states along it.
    """
    start = time.perf_counter()
    images = observed.reshape(observed.shape[0], -1)
    states = initial_states.detach().clone().requires_grad_(True)
    logits = torch.zeros(states.shape[0], dtype=states.dtype, requires_grad=True)
    spread = initial_states.std(dim=0).clamp_min(1e-3) if states.shape[0] > 1 else 1.0
    optimiser = torch.optim.Adam([states, logits], lr=lr)
    for _ in tqdm(range(iterations), desc="sip baseline", disable=not progress, mininterval=5.0):
        batch = images
        if batch_size is not None and batch_size < images.shape[0]:
            batch = images[torch.randperm(images.shape[0], generator=generator)[:batch_size]]
        loss = -_mixture_log_likelihood(
            clean(states), torch.log_softmax(logits, 0), batch, noise_sigma
        )
        optimiser.zero_grad()
        loss.backward()
        before = states.detach().clone()
        optimiser.step()
        with torch.no_grad():  # Adam's step is ~lr: stretch it by the spread per parameter
            states.copy_(before + (states - before) * spread)
    with torch.no_grad():
        log_weights = torch.log_softmax(logits, 0)
        total = sum(
            float(_mixture_log_likelihood(clean(states), log_weights, chunk, noise_sigma))
            * chunk.shape[0]
            for chunk in images.split(256)
        )
    return DiscreteStates(
        states.detach(), log_weights.exp(), total / images.shape[0], time.perf_counter() - start
    )
