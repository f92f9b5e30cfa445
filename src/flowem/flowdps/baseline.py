"""``flowem baseline``: one classical phase-retrieval method on a particle set.

Methods: ``wiener`` (linear weak-phase CTF inversion), ``iterative`` (alternating projections,
RRR/HIO with restarts), ``poisson_tv`` (Poisson likelihood + total variation). Writes
``phase.mrcs`` and ``particles.csv`` (index, Poisson deviance per pixel, seconds,
forward-model evaluations per particle (:mod:`flowem.flowdps.budget`), status).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from flowem.command import command_parser, guarded, parse
from flowem.flowdps.budget import evaluations_of
from flowem.flowdps.particles import ParticleSet, load_particles, operator_for
from flowem.flowdps.settings import METHODS, baseline_settings
from flowem.io import write_mrc, write_table
from flowem.posterior import poisson_deviance
from flowem.retrieval import iterative_phase_retrieval, poisson_tv, wiener_ctf_inverse
from flowem.runtime import setup_logging, torch_generator, write_run_config

log = logging.getLogger("flowem")
BATCH = 16


def reconstruct(method: str, settings, particles: ParticleSet, seed: int, pad: float = 2.0):
    """Phase (N, H, W), deviance (N,), seconds (N,), status (N,) and forward-model
    evaluations (N,) of ``method`` (:mod:`flowem.flowdps.budget`; Poisson+TV: those spent)."""
    count = len(particles)
    phase = np.full(particles.counts.shape, np.nan, np.float32)
    deviance, seconds = np.full(count, np.nan), np.zeros(count)
    evaluations = np.full(count, evaluations_of(method, settings), dtype=np.int64)
    status = np.array(["ok"] * count, dtype=object)
    for start in tqdm(range(0, count, BATCH), desc=method, unit="batch", disable=None):
        chosen = np.arange(start, min(start + BATCH, count))
        tic = time.perf_counter()
        try:
            op = operator_for(particles, chosen, pad_factor=pad)
            y = torch.as_tensor(particles.counts[chosen], dtype=torch.float64)
            if method == "wiener":
                x = wiener_ctf_inverse(y, op, settings["snr"])
            elif method == "iterative":
                result = iterative_phase_retrieval(y, op, settings, torch_generator(seed, start))
                x = result.phase
                evaluations[chosen] = result.evaluations
            else:
                spent = [0]
                x = poisson_tv(y, op, settings, counter=spent)
                evaluations[chosen] = spent[0]
            if not torch.isfinite(x).all():
                raise FloatingPointError("non-finite reconstruction")
            deviance[chosen] = poisson_deviance(y, op(x)).detach().numpy()
            phase[chosen] = x.detach().numpy()
        except Exception as exc:
            status[chosen] = f"failed: {exc}"
            log.error("%s: particles %s failed: %s", method, chosen.tolist(), exc)
        seconds[chosen] = (time.perf_counter() - tic) / len(chosen)
    return phase, deviance, seconds, status, evaluations


@dataclass
class Retrieval:
    """A method's phases (N, H, W), radians, and its per-particle table."""

    phase: np.ndarray
    table: pd.DataFrame
    pixel_size_a: float


def run(method: str, settings, counts: str, table: str, seed: int) -> Retrieval:
    """``method`` (with its ``settings``) on every particle of ``counts``/``table``."""
    particles = load_particles(counts, table)
    phase, deviance, seconds, status, evaluations = reconstruct(method, settings, particles, seed)
    log.info(
        "%s: %d particles, mean deviance %.3f, %.0f forward-model evaluations per particle",
        method,
        len(particles),
        np.nanmean(deviance),
        evaluations.mean(),
    )
    rows = pd.DataFrame(
        {
            "index": np.arange(len(particles)),
            "deviance": deviance,
            "seconds": seconds,
            "forward_evaluations": evaluations,
        }
    )
    return Retrieval(phase, rows.assign(status=status), particles.pixel_size_a)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem baseline", __doc__.split("\n\n")[0], outdir="output folder", tuned=True
    )
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--counts", required=True)
    parser.add_argument("--table", required=True)
    args, params = parse(parser, argv)
    settings = baseline_settings(args.method, params)
    setup_logging(args.log)
    result = run(args.method, settings, args.counts, args.table, args.seed)
    outdir = Path(args.outdir)
    write_mrc(outdir / "phase.mrcs", np.nan_to_num(result.phase), result.pixel_size_a)
    write_table(outdir / "particles.csv", result.table)
    resolved = settings if isinstance(settings, dict) else settings.to_dict()
    write_run_config(
        outdir,
        {
            "stage": "baseline",
            "method": args.method,
            "seed": args.seed,
            "params": params,
            "resolved": resolved,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
