"""``flowem tune-retrieval``: choose one method's hyperparameters on the validation particles.

Every method gets the same budget: at most ``budget`` settings from its grid (all of them if
the grid is that small, else a seeded random subset), each scored by the mean PSNR against
the ground truth after offset removal. Writes ``{"chosen": {...}, "scores": [...]}``; the
``flowdps`` and ``baseline`` rules merge ``chosen`` over the configured values.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import numpy as np

from flowem.command import command_parser, guarded, parse
from flowem.errors import ConfigError
from flowem.flowdps.baseline import reconstruct
from flowem.flowdps.evaluate import particle_metrics, remove_offset
from flowem.flowdps.particles import load_particles
from flowem.flowdps.run import sample_particles
from flowem.flowdps.settings import METHODS, baseline_settings, split_flowdps
from flowem.io import write_json
from flowem.prior.velocity import load_velocity
from flowem.runtime import pick_device, rng, setup_logging
from flowem.settings import check_at_least

log = logging.getLogger("flowem")

#: the ``tuning`` section's keys this command reads (``grids`` reaches it as ``grid``)
DEFAULTS = {"budget": 4}


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


def run(
    method: str,
    params: dict[str, Any],
    counts: str,
    table: str,
    truth: str,
    model: str | None,
    seed: int,
) -> dict[str, Any]:
    """Score up to ``budget`` settings of ``method``'s ``grid`` (over its ``base`` settings) on
    the validation particles; the record of the choice and of every trial."""
    base, grid = params.get("base", {}), params.get("grid", {})
    budget = params.get("budget", DEFAULTS["budget"])
    check_at_least({"budget": budget}, "tuning", 1, "budget")
    particles = load_particles(counts, table, truth)
    if method == "flowdps":
        if model is None:
            raise ConfigError("tune-retrieval --method flowdps needs --model")
        device = pick_device(base.get("device", "auto"))
        prior = load_velocity(model, device)
    scores = []
    for combo in candidates(grid, budget, seed):
        tic = time.perf_counter()
        if method == "flowdps":
            options, sampler = split_flowdps({**base, **combo})
            indices = np.arange(len(particles))
            out = sample_particles(particles, indices, prior, sampler, options, seed, device)
            estimate = out["mean"]
        else:
            settings = baseline_settings(method, {**base, **combo})
            estimate = reconstruct(method, settings, particles, seed)[0]
        value = score(particles.truth, estimate, particles.pixel_size_a)
        scores.append({"params": combo, "psnr": value, "seconds": time.perf_counter() - tic})
        log.info("%s %s: PSNR %.2f dB", method, combo, value)
    best = max(scores, key=lambda s: s["psnr"])
    return {
        "method": method,
        "chosen": best["params"],
        "budget": budget,
        "n_particles": len(particles),
        "scores": scores,
    }


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem tune-retrieval", __doc__, out="tuned hyperparameters (JSON)")
    parser.add_argument("--method", required=True, choices=("flowdps", *METHODS))
    parser.add_argument("--counts", required=True, help="validation counts")
    parser.add_argument("--table", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--model", default=None, help="prior model (flowdps only)")
    args, params = parse(parser, argv)  # {"base": {...}, "grid": {...}, "budget": n}
    setup_logging(args.log)
    record = run(args.method, params, args.counts, args.table, args.truth, args.model, args.seed)
    write_json(args.out, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
