"""``flowem tune-retrieval``: choose one method's hyperparameters on the validation particles.

Every method gets the same budget: at most ``budget`` settings from its grid (all of them if
the grid is that small, else a seeded random subset), each scored by the mean PSNR against
the ground truth after offset removal. Writes ``{"chosen": {...}, "scores": [...]}``; the
``flowdps`` and ``baseline`` rules merge ``chosen`` over the configured values.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time

import numpy as np

from flowem.command import add_common_arguments, guarded, parse_params
from flowem.errors import ConfigError
from flowem.flowdps.baseline import reconstruct
from flowem.flowdps.evaluate import particle_metrics, remove_offset
from flowem.flowdps.particles import load_particles
from flowem.flowdps.run import sample_particles
from flowem.flowdps.settings import METHODS, baseline_settings, split_flowdps
from flowem.flowdps.velocity import load_velocity
from flowem.io import write_json
from flowem.runtime import pick_device, rng, setup_logging

log = logging.getLogger("flowem")


def candidates(grid: dict[str, list], budget: int, seed: int) -> list[dict]:
    """All combinations of ``grid`` or, beyond ``budget``, a seeded random subset of them."""
    names = sorted(grid)
    combos = [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]
    if len(combos) > budget:
        keep = rng(seed, 7).choice(len(combos), size=budget, replace=False)
        combos = [combos[i] for i in sorted(keep)]
    return combos or [{}]


def score(truth: np.ndarray, estimate: np.ndarray, pixel_size_a: float) -> float:
    aligned = remove_offset(estimate, truth)
    values = [
        particle_metrics(truth[i], aligned[i], pixel_size_a)["psnr"]
        for i in range(len(truth))
        if np.isfinite(aligned[i]).all()
    ]
    return float(np.mean(values)) if values else float("-inf")


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowem tune-retrieval", description=__doc__)
    parser.add_argument("--method", required=True, choices=("flowdps", *METHODS))
    parser.add_argument("--counts", required=True, help="validation counts")
    parser.add_argument("--table", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--model", default=None, help="prior model (flowdps only)")
    parser.add_argument("--out", required=True, help="tuned hyperparameters (JSON)")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    params = parse_params(args.params)  # {"base": {...}, "grid": {...}, "budget": n}
    base, grid, budget = params.get("base", {}), params.get("grid", {}), params.get("budget", 4)
    if budget < 1:
        raise ConfigError(f"tuning.budget must be >= 1, got {budget}")
    setup_logging(args.log)
    particles = load_particles(args.counts, args.table, args.truth)
    if args.method == "flowdps":
        if args.model is None:
            raise ConfigError("tune-retrieval --method flowdps needs --model")
        device = pick_device(base.get("device", "auto"))
        velocity, scale, _ = load_velocity(args.model, device)
    scores = []
    for combo in candidates(grid, budget, args.seed):
        tic = time.perf_counter()
        if args.method == "flowdps":
            run, sampler = split_flowdps({**base, **combo})
            out = sample_particles(
                particles,
                np.arange(len(particles)),
                velocity,
                scale,
                sampler,
                run,
                args.seed,
                device,
            )
            estimate = out["mean"]
        else:
            settings = baseline_settings(args.method, {**base, **combo})
            estimate = reconstruct(args.method, settings, particles, args.seed)[0]
        value = score(particles.truth, estimate, particles.pixel_size_a)
        scores.append({"params": combo, "psnr": value, "seconds": time.perf_counter() - tic})
        log.info("%s %s: PSNR %.2f dB", args.method, combo, value)
    best = max(scores, key=lambda s: s["psnr"])
    write_json(
        args.out,
        {
            "method": args.method,
            "chosen": best["params"],
            "budget": budget,
            "n_particles": len(particles),
            "scores": scores,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
