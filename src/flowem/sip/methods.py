"""The image experiments' method comparison (issue 19): particle flows, the WGAN-GP critic
(on the particles or a generator network), the amortised VAE and the discrete-state baseline,
all on the same observed images, each with its stated budget (iterations) and its seconds.

Only the VAE is given the images' poses (the true rotations, as CryoDRGN takes them from a
consensus refinement): ``needs_poses`` says so per row. The nanocluster has no pose, so there
no method needs one. Every method's recovered law is summarised by ``n_particles`` draws (the
particles, generator draws, aggregate-posterior draws, or draws of the discrete states), so
every row's distance has the same sample sizes and noise floor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from flowem.metrics.energy import energy_against
from flowem.physics.rotations import random_rotations
from flowem.runtime import rng, torch_generator
from flowem.sip.adversarial import NetworkGenerator, ParticleGenerator, fit_adversarial
from flowem.sip.experiments import Experiment
from flowem.sip.interval import EnergyBootstrap
from flowem.sip.losses import LOSS_NAMES, make_loss
from flowem.sip.protein import NormalModeProjector
from flowem.sip.settings import METHOD_NAMES, ImageSettings
from flowem.sip.simulation import fit_flow, reported_energy, simulate, to_tensor
from flowem.sip.vae import aggregate_posterior, fit_vae

FAMILIES = {
    "energy": "particle flow (energy distance)",
    "mmd": "particle flow (Gaussian MMD)",
    "kl": "particle flow (KL of KDEs)",
    "critic": "adversarial, particles (WGAN-GP critic)",
    "generator": "adversarial, generator network (WGAN-GP critic)",
    "vae": "amortised VAE (ELBO, simulator decoder)",
    "dto": "discrete states (maximum likelihood)",
}


@dataclass
class MethodRun:
    """One method's recovered law as draws ``(n, d)``, with its cost."""

    method: str
    draws: np.ndarray
    seconds: float
    iterations: int
    needs_poses: bool = False
    #: the image-space distance where the run already computed it on these draws
    image_energy: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def observed_poses(exp: Experiment, theta: np.ndarray, generator: torch.Generator):
    """The rotations behind ``simulate(exp, theta, generator)``, replayed from a generator in
    the same state: the projector draws each chunk's rotations, then its noise. None for a
    forward map without poses."""
    forward = exp.forward
    if not isinstance(forward, NormalModeProjector):
        return None
    poses = []
    for chunk in np.array_split(theta, max(1, len(theta) // 256)):
        poses.append(torch.as_tensor(random_rotations(len(chunk), generator).as_matrix()))
        torch.randn((len(chunk), forward.grid_size, forward.grid_size), generator=generator)
    return torch.cat(poses).float()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Small convolutions and their double backward run faster on one thread than on a
    contended pool; the caller's thread count comes back afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _noise_sigma(s: ImageSettings) -> float:
    return float(getattr(s, "noise_sigma", getattr(s, "sigma", 1.0)))


def run_method(
    name: str,
    exp: Experiment,
    s: ImageSettings,
    observed: torch.Tensor,
    initial: np.ndarray,
    poses: torch.Tensor | None,
    seed: int,
    progress: bool = False,
) -> MethodRun:
    """Fit method ``name`` of :data:`METHOD_NAMES` on ``observed`` from the initial law.

    Its random streams (draws, noise, rotations, minibatches, and the networks' initial
    weights) come from ``(seed, method)`` alone, so a method's row does not depend on what ran
    before it; the global torch generator is left as it was."""
    index = METHOD_NAMES.index(name)
    gen = torch_generator(seed, 20 + index)
    with torch.random.fork_rng():
        torch.manual_seed(int(rng(seed, 40 + index).integers(2**62)))
        return _run_method(name, exp, s, observed, initial, poses, gen, progress)


def _run_method(
    name: str,
    exp: Experiment,
    s: ImageSettings,
    observed: torch.Tensor,
    initial: np.ndarray,
    poses: torch.Tensor | None,
    gen: torch.Generator,
    progress: bool,
) -> MethodRun:
    start = to_tensor(initial)
    if name in LOSS_NAMES:
        loss = make_loss(name, s.kernel_bandwidth, chunk_size=s.chunk_size)
        flow = fit_flow(exp, s, initial, observed, loss, gen, None, progress, f"sip {name}")
        return MethodRun(name, flow.particles.numpy(), flow.seconds, flow.iterations,
                         history=flow.history)  # fmt: skip
    if name in ("critic", "generator"):
        model = (
            ParticleGenerator(start)
            if name == "critic"
            else NetworkGenerator(start, s.generator_hidden)
        )
        with _one_thread():
            fit = fit_adversarial(
                model,
                exp.forward,
                observed,
                iterations=s.adversarial_iterations,
                n_critic=s.n_critic,
                gp_weight=s.gp_weight,
                batch_size=s.adversarial_batch_size,
                lr=s.adversarial_lr if name == "critic" else s.generator_lr,
                critic_lr=s.critic_lr,
                critic_channels=s.critic_channels,
                critic_pool=s.critic_pool,
                average=s.adversarial_average,
                rng=gen,
                log_every=s.log_every,
            )
        draws = fit.generator.draws(s.n_particles, gen).numpy()
        return MethodRun(name, draws, fit.seconds, fit.iterations, history=fit.history)
    if name == "vae":
        if poses is None:
            decode = lambda th, rows: exp.forward.clean(th)  # noqa: E731
        else:
            decode = lambda th, rows: exp.forward.clean(th, poses[rows])  # noqa: E731
        with _one_thread():
            fit = fit_vae(
                observed,
                decode,
                _noise_sigma(s),
                start.mean(0),
                start.std(0).clamp_min(1e-6),
                iterations=s.vae_iterations,
                batch_size=s.vae_batch_size,
                lr=s.vae_lr,
                channels=s.critic_channels,
                pool=s.critic_pool,
                rng=gen,
                log_every=s.log_every,
            )
        draws = aggregate_posterior(fit.encoder, observed, s.n_particles, gen).numpy()
        return MethodRun(name, draws, fit.seconds, fit.iterations, poses is not None,
                         history=fit.history)  # fmt: skip
    raise ValueError(f"unknown SIP method {name!r}; choose one of {METHOD_NAMES}")


def method_rows(
    runs: list[MethodRun],
    exp: Experiment,
    s: ImageSettings,
    observed: torch.Tensor,
    reference: np.ndarray,
    seed: int,
) -> list[dict[str, Any]]:
    """One row per method: parameter-space distance to the true law with its 95% bootstrap
    interval, image-space distance to the observed images, budget, seconds and poses."""
    bootstrap = EnergyBootstrap(reference, s.bootstrap_replicates, rng(seed, 31))
    gen = torch_generator(seed, 32)
    against = None  # the observed images' own terms, once for every method
    rows = []
    for run in runs:
        low, high = bootstrap.interval(run.draws)
        image = run.image_energy
        if image is None:
            if against is None:
                flat = observed.reshape(observed.shape[0], -1)
                against = energy_against(flat, chunk_size=512, unbiased=True)
            with torch.no_grad():
                images = simulate(exp, run.draws, gen)
                image = float(against(images.reshape(images.shape[0], -1)))
        rows.append(
            {
                "experiment": exp.name,
                "method": run.method,
                "family": FAMILIES.get(run.method, run.method),
                "needs_poses": run.needs_poses,
                "param_energy_distance": reported_energy(run.draws, reference),
                "param_energy_low": low,
                "param_energy_high": high,
                "image_energy_distance": image,
                "n_samples": len(run.draws),
                "n_reference": len(reference),
                "iterations": int(run.iterations),
                "seconds": round(float(run.seconds), 3),
            }
        )
    return rows
