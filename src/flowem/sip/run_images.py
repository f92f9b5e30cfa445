"""Runs of the image experiments (nanocluster, protein): flow, baseline, metrics, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from flowem.io import write_table
from flowem.physics.rotations import random_rotations
from flowem.runtime import rng, torch_generator
from flowem.sip import figures
from flowem.sip.baseline import DiscreteStates, fit_discrete_states
from flowem.sip.experiments import Experiment, build_experiment
from flowem.sip.losses import LOSS_NAMES, make_loss
from flowem.sip.methods import FAMILIES, MethodRun, method_rows, observed_poses, run_method
from flowem.sip.noise_floor import energy_noise_floor
from flowem.sip.settings import FlowSettings, ImageSettings
from flowem.sip.simulation import fit_flow, simulate, to_tensor
from flowem.sip.simulation import reported_energy as _energy

__all__ = ["fit_baseline", "fit_flow", "particles_table", "run_images", "simulate", "to_tensor"]


def fit_baseline(
    exp: Experiment,
    s: FlowSettings,
    clean,
    observed: torch.Tensor,
    noise_sigma: float,
    seed: int,
    progress: bool,
    batch_size: int | None,
) -> DiscreteStates:
    """The discretize-then-optimise baseline: ``s.baseline_states`` states of ``exp``."""
    return fit_discrete_states(
        clean,
        observed,
        to_tensor(exp.initial_sampler(s.baseline_states, rng(seed, 6))),
        noise_sigma,
        iterations=s.baseline_iterations,
        lr=s.baseline_lr,
        generator=torch_generator(seed, 6),
        batch_size=batch_size,
        progress=progress,
    )


def particles_table(theta: np.ndarray, names: list[str], **extra) -> pd.DataFrame:
    table = pd.DataFrame(theta, columns=names)
    for key, value in extra.items():
        table[key] = value
    return table


def run_images(
    name: str, s: FlowSettings, outdir: Path, seed: int, progress: bool, structure: str | None
) -> dict[str, Any]:
    exp = build_experiment(name, s, structure)
    theta_true = exp.true_sampler(s.n_observed, rng(seed, 1))
    observed = simulate(exp, theta_true, torch_generator(seed, 2))
    initial = exp.initial_sampler(s.n_particles, rng(seed, 3))
    # parameter distances: against a fresh true-law sample of the observed set's size, not the
    # draws behind the observations the flow fits
    reference = exp.true_sampler(s.n_observed, rng(seed, 10))
    poses = observed_poses(exp, theta_true, torch_generator(seed, 2))
    if s.loss in LOSS_NAMES:
        monitor = lambda th: {"param_energy": _energy(th.double(), reference)}  # noqa: E731
        loss_fn = make_loss(s.loss, s.kernel_bandwidth, chunk_size=s.chunk_size)
        flow_gen, desc = torch_generator(seed, 4), f"sip {name} {s.loss}"
        flow = fit_flow(exp, s, initial, observed, loss_fn, flow_gen, monitor, progress, desc)
        result = MethodRun(s.loss, flow.particles.numpy(), flow.seconds, flow.iterations,
                           history=flow.history)  # fmt: skip
    else:  # critic / generator: the adversarial method is the main run
        result = run_method(s.loss, exp, s, observed, initial, poses, seed, progress)
    final = result.draws
    gen = torch_generator(seed, 7)
    metrics: dict[str, Any] = {
        "loss": s.loss,
        "family": FAMILIES.get(s.loss, s.loss),
        # reported distances: unbiased squared energy distance between these sample sizes
        "distance_estimator": "unbiased squared energy distance",
        "distance_sample_sizes": {"particles": s.n_particles, "true_law": s.n_observed},
        "param_energy_distance_initial": _energy(initial, reference),
        "param_energy_distance_final": _energy(final, reference),
        "image_energy_distance_initial": _energy(simulate(exp, initial, gen), observed),
        "image_energy_distance_final": _energy(simulate(exp, final, gen), observed),
        # std of each distance between two samples of the true law at these sizes
        "noise_floor": {
            "param_energy_distance": energy_noise_floor(reference, s.n_particles, s.n_observed),
            "image_energy_distance": energy_noise_floor(observed, s.n_particles, s.n_observed),
        },
        "seconds": round(result.seconds, 3),
        "iterations": result.iterations,
        "seconds_per_iteration": round(result.seconds / max(result.iterations, 1), 4),
        **exp.info,
    }
    noise = s.sigma if name == "nanocluster" else s.noise_sigma
    if name == "nanocluster":
        clean = lambda th: exp.forward.clean(th).reshape(th.shape[0], 1, -1)  # noqa: E731
    else:
        rot_gen = torch_generator(seed, 8)
        rots = random_rotations(s.baseline_rotations, rot_gen).as_matrix()
        rots = torch.as_tensor(rots, dtype=torch.float32)
        clean = lambda th: exp.forward.clean(  # noqa: E731
            th.repeat_interleave(len(rots), 0), rots.repeat(th.shape[0], 1, 1)
        ).reshape(th.shape[0], len(rots), -1)
    batch_size = getattr(s, "baseline_batch_size", s.batch_size)
    states = fit_baseline(exp, s, clean, observed, noise, seed, progress, batch_size)
    baseline_draws = states.sample(s.n_particles, rng(seed, 9))
    metrics["baseline"] = {
        "states": s.baseline_states,
        "param_energy_distance_final": _energy(baseline_draws, reference),
        "image_energy_distance_final": _energy(simulate(exp, baseline_draws, gen), observed),
        "seconds": round(states.seconds, 3),
    }
    assert isinstance(s, ImageSettings)
    result.image_energy = metrics["image_energy_distance_final"]
    runs = [
        result,
        MethodRun("dto", baseline_draws, states.seconds, s.baseline_iterations,
                  image_energy=metrics["baseline"]["image_energy_distance_final"]),
    ]  # fmt: skip
    runs += [run_method(m, exp, s, observed, initial, poses, seed, progress)
             for m in s.methods if m != s.loss]  # fmt: skip
    metrics["methods"] = method_rows(runs, exp, s, observed, reference, seed)
    write_table(outdir / "methods.csv", pd.DataFrame(metrics["methods"]))
    for run in runs[2:]:  # training curves: critic's Wasserstein estimate, ELBO, loss
        write_table(outdir / f"history_{run.method}.csv", pd.DataFrame(run.history))
    names = exp.param_names
    figures.method_marginals(
        outdir / "method_marginals.png", {r.method: r.draws for r in runs}, theta_true, names
    )
    write_table(outdir / "particles.csv", particles_table(final, names))
    write_table(outdir / "particles_initial.csv", particles_table(initial, names))
    write_table(outdir / "true_parameters.csv", particles_table(theta_true, names))
    write_table(outdir / "history.csv", pd.DataFrame(result.history))
    write_table(
        outdir / "baseline_states.csv",
        particles_table(states.states.numpy(), names, weight=states.weights.numpy()),
    )
    sets = {"initial": initial, "estimated": final, "true": theta_true}
    if name == "nanocluster":
        figures.parameter_scatter(outdir / "parameter_densities.png", sets, states.states.numpy())
        views = {k: simulate(exp, v[: s.n_particles], gen).numpy() for k, v in sets.items()}
        figures.image_pca(outdir / "image_pca.png", views, "noisy images, PCA")
    else:
        baseline = (states.states.numpy(), states.weights.numpy())
        figures.mode_marginals(outdir / "mode_marginals.png", sets, names, baseline)
        fixed = torch.eye(3)  # viewing direction fixed so only the conformation varies
        views = {}
        for key, theta in sets.items():
            th = to_tensor(theta[: s.pca_images])
            with torch.no_grad():
                clean_images = exp.forward.clean(th, fixed.expand(len(th), 3, 3))
                noise_draw = torch.randn(clean_images.shape, generator=gen)
            views[key] = (clean_images + s.noise_sigma * noise_draw).numpy()
        figures.image_pca(outdir / "image_pca.png", views, "noisy images, fixed view, PCA")
    return metrics
