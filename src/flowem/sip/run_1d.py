"""Run of the 1D experiment: energy and KL flows, the baseline, and the sigma sweep."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from flowem.io import write_table
from flowem.runtime import rng, torch_generator
from flowem.sip import figures
from flowem.sip.experiments import TRUE_1D, build_experiment
from flowem.sip.flow import run_flow
from flowem.sip.losses import make_loss
from flowem.sip.noise_floor import replicate_floor
from flowem.sip.run_images import fit_baseline, fit_flow, particles_table, simulate, to_tensor
from flowem.sip.settings import OneDSettings

MONITOR_REFERENCE = 100_000  # true-law draws used for W1 while the flow runs
W1_FLOOR_REPLICATES = 20


class W1ToReference:
    """1-Wasserstein distance of 1D samples to one fixed reference sample.

    W1 is the L1 distance of the quantile functions; when the reference size m is a multiple of
    the sample size n, the sample's quantile on the reference's k-th step is its
    ``(k n // m)``-th order statistic, so ``W1 = mean_k |x_(k n // m) - r_(k)|`` exactly: one
    sort of the sample instead of scipy's sort and merge of both sets.
    """

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = np.sort(np.ravel(reference))

    def __call__(self, sample: np.ndarray, weights: np.ndarray | None = None) -> float:
        x, m = np.ravel(sample), len(self.reference)
        if weights is not None or m % len(x):
            return float(wasserstein_distance(x, self.reference, u_weights=weights))
        return float(np.abs(np.repeat(np.sort(x), m // len(x)) - self.reference).mean())


def run_1d(s: OneDSettings, outdir: Path, seed: int, progress: bool) -> dict[str, Any]:
    exp = build_experiment("1d", s)
    theta_true = exp.true_sampler(s.n_observed, rng(seed, 1))
    observed = exp.forward(to_tensor(theta_true), torch_generator(seed, 2))
    initial = exp.initial_sampler(s.n_particles, rng(seed, 3))
    reference = exp.true_sampler(s.w1_reference_size, rng(seed, 5))[:, 0]
    w1, monitor_w1 = W1ToReference(reference), W1ToReference(reference[:MONITOR_REFERENCE])
    monitor = lambda th: {"w1": monitor_w1(th.numpy())}  # noqa: E731
    # W1 of true-law samples of the particle count: the floor a perfect fit sits on
    floor = replicate_floor(
        lambda k: w1(exp.true_sampler(s.n_particles, rng(seed, 13, k))), W1_FLOOR_REPLICATES
    )
    metrics: dict[str, Any] = {
        "distance_sample_sizes": {"particles": s.n_particles, "w1_reference": len(reference)},
        "w1_noise_floor": {**floor, "sample_size": s.n_particles},
    }
    grid = np.linspace(-6, 6, 600)
    for index, loss in enumerate(s.losses):
        loss_fn = make_loss(loss, s.kernel_bandwidth, chunk_size=s.chunk_size, n_bins=s.kde_bins)
        flow_gen, desc = torch_generator(seed, 4, index), f"sip 1d {loss}"
        result = fit_flow(exp, s, initial, observed, loss_fn, flow_gen, monitor, progress, desc)
        final = result.particles.numpy()
        metrics[loss] = {
            "w1_initial": w1(initial),
            "w1_final": w1(final),
            "seconds": round(result.seconds, 3),
            "iterations": result.iterations,
        }
        write_table(outdir / f"particles_{loss}.csv", particles_table(final, exp.param_names))
        write_table(outdir / f"history_{loss}.csv", pd.DataFrame(result.history))
        gen = torch_generator(seed, 7, index)
        figures.densities_1d(
            outdir / f"densities_{loss}.png",
            {"initial": initial[:, 0], "estimated": final[:, 0], "true sample": reference[:20000]},
            {
                "initial (simulated)": simulate(exp, initial, gen).numpy().ravel(),
                "estimated (simulated)": simulate(exp, final, gen).numpy().ravel(),
                "true (observed)": observed.numpy().ravel(),
            },
            (grid, TRUE_1D.pdf_1d(grid)),
            f"1D deconvolution, {loss} loss, sigma = {s.sigma}",
        )
    clean = lambda th: th[:, None, :]  # noqa: E731
    states = fit_baseline(exp, s, clean, observed, s.sigma, seed, progress, s.batch_size)
    metrics["baseline"] = {
        "states": s.baseline_states,
        "w1_final": w1(states.states.numpy(), states.weights.numpy()),
        "seconds": round(states.seconds, 3),
    }
    write_table(
        outdir / "baseline_states.csv",
        particles_table(states.states.numpy(), exp.param_names, weight=states.weights.numpy()),
    )
    metrics["sweep"] = sweep_1d(s, seed, progress)
    write_table(outdir / "sweep.csv", pd.DataFrame(metrics["sweep"]))
    figures.sweep(outdir / "sweep.png", metrics["sweep"])
    return metrics


def sweep_1d(s: OneDSettings, seed: int, progress: bool) -> list[dict[str, Any]]:
    """Iterations and seconds to reach W1 < target for each sigma and loss (None: not reached)."""
    rows = []
    for i, sigma in enumerate(s.sweep_sigmas):
        exp = build_experiment("1d", replace(s, sigma=sigma))
        truth = to_tensor(exp.true_sampler(s.n_observed, rng(seed, 10, i)))
        observed = exp.forward(truth, torch_generator(seed, 11, i))
        initial = to_tensor(exp.initial_sampler(s.n_particles, rng(seed, 3)))
        w1 = W1ToReference(exp.true_sampler(MONITOR_REFERENCE, rng(seed, 5)))
        for j, loss in enumerate(s.losses):
            loss_fn = make_loss(
                loss, s.kernel_bandwidth, chunk_size=s.chunk_size, n_bins=s.kde_bins
            )
            result = run_flow(
                initial,
                exp.forward,
                observed,
                loss_fn,
                lr=s.lr if s.sweep_lr is None else s.sweep_lr,
                iterations=s.sweep_max_iterations,
                generator=torch_generator(seed, 12, i, j),
                batch_size=s.batch_size,
                log_every=10 * s.sweep_check_every,
                check_every=s.sweep_check_every,
                monitor=lambda th, w1=w1: {"w1": w1(th.numpy())},
                stop=lambda rec: rec["w1"] < s.sweep_target_w1,
                progress=progress,
                desc=f"sip sweep sigma={sigma} {loss}",
            )
            hit = result.stopped_at is not None
            rows.append(
                {
                    "sigma": sigma,
                    "loss": loss,
                    "iterations": result.stopped_at,
                    "seconds": round(result.history[-1]["seconds"], 3) if hit else None,
                    "final_w1": result.history[-1]["w1"] if result.history else None,
                    "max_iterations": s.sweep_max_iterations,
                }
            )
    return rows
