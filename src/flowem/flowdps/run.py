"""``flowem flowdps``: posterior sampling of one shard of particles with the flow prior.

S samples per particle in batches of particles x samples; the noise of sample j of particle
i comes from the seed ``(seed, i, j)``, so any particle can be rerun alone. Writes an ``.npz``
with, per particle: the posterior mean, pixel-wise std, lowest-residual sample, their Poisson
deviances, the wall time, the number of samples, the forward-model evaluations
(``samples x steps x dc_steps``, :mod:`flowem.flowdps.budget`) and a status (a particle that
fails is recorded, the others kept).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from flowem.command import command_parser, guarded, parse
from flowem.errors import ConfigError
from flowem.flowdps.budget import flowdps_evaluations
from flowem.flowdps.particles import ParticleSet, load_particles, operator_for
from flowem.flowdps.settings import split_flowdps
from flowem.io import atomic_path
from flowem.posterior import flowdps_sample, poisson_deviance, summarise_samples
from flowem.prior.velocity import PriorVelocity, load_velocity
from flowem.runtime import pick_device, setup_logging, torch_generator

log = logging.getLogger("flowem")


def shard_indices(count: int, shard: int, shards: int) -> np.ndarray:
    """Particles of shard ``shard`` (1-based) of ``shards``: contiguous, sizes differ by <= 1."""
    if not 1 <= shard <= shards:
        raise ConfigError(f"shard {shard} is not in 1..{shards}")
    return np.array_split(np.arange(count), shards)[shard - 1]


def sample_particles(particles, indices, prior: PriorVelocity, settings, run, seed, device) -> dict:
    """Posterior summaries of ``indices`` (physical units); failures are caught per batch,
    then per particle."""
    samples = run["samples"]
    per_batch = max(1, run["batch_size"] // samples)
    height, width = particles.counts.shape[1:]
    out = {
        "mean": np.full((len(indices), height, width), np.nan, np.float32),
        "std": np.full((len(indices), height, width), np.nan, np.float32),
        "best": np.full((len(indices), height, width), np.nan, np.float32),
        "deviance_best": np.full(len(indices), np.nan),
        "deviance_mean": np.full(len(indices), np.nan),
        "seconds": np.zeros(len(indices)),
        "status": np.array(["ok"] * len(indices), dtype=object),
        "n_samples": np.full(len(indices), samples, dtype=np.int64),
        "forward_evaluations": np.full(
            len(indices), flowdps_evaluations({"samples": samples, **settings.to_dict()})
        ),
    }
    if run["keep_samples"]:
        out["samples"] = np.full((len(indices), samples, height, width), np.nan, np.float32)

    def run_batch(positions: list[int]) -> None:
        chosen = indices[positions]
        tic = time.perf_counter()
        op = operator_for(
            particles,
            chosen,
            repeat=samples,
            pad_factor=run["forward_pad_factor"],
            b_envelope_a2=run["b_envelope_a2"],
            device=device,
        )
        y = torch.as_tensor(particles.counts[chosen], dtype=torch.float32, device=device)
        y = y.repeat_interleave(samples, dim=0)
        gens = [torch_generator(seed, int(i), j) for i in chosen for j in range(samples)]
        x = flowdps_sample(prior, op, y, gens, settings, scale=prior.scale)
        if not torch.isfinite(x).all():
            raise FloatingPointError("non-finite posterior sample")
        deviance = poisson_deviance(y, op(x)).reshape(len(chosen), samples)
        x = x.reshape(len(chosen), samples, height, width)
        summary = summarise_samples(x, deviance)
        op_mean = operator_for(
            particles,
            chosen,
            pad_factor=run["forward_pad_factor"],
            b_envelope_a2=run["b_envelope_a2"],
            device=device,
        )
        y1 = torch.as_tensor(particles.counts[chosen], dtype=torch.float32, device=device)
        seconds = (time.perf_counter() - tic) / len(chosen)
        for k, pos in enumerate(positions):
            out["mean"][pos] = summary.mean[k].cpu().numpy()
            out["std"][pos] = summary.std[k].cpu().numpy()
            out["best"][pos] = summary.best[k].cpu().numpy()
            out["deviance_best"][pos] = float(deviance[k, summary.best_index[k]])
            out["seconds"][pos] = seconds
            if "samples" in out:
                out["samples"][pos] = x[k].cpu().numpy()
        out["deviance_mean"][positions] = poisson_deviance(y1, op_mean(summary.mean)).cpu().numpy()

    batches = [
        list(range(s, min(s + per_batch, len(indices)))) for s in range(0, len(indices), per_batch)
    ]
    for positions in tqdm(batches, desc="flowdps", unit="batch", disable=None):
        try:
            run_batch(positions)
        except Exception as exc:
            log.warning("batch %s failed (%s); retrying particle by particle", positions, exc)
            for pos in positions:
                try:
                    run_batch([pos])
                except Exception as single:
                    out["status"][pos] = f"failed: {single}"
                    log.error("particle %d failed: %s", indices[pos], single)
    return out


def run(settings, options: dict, model: str, counts: str, table: str, shard: int, seed: int):
    """``(particle indices, posterior summaries)`` of shard ``shard`` (1-based) of the particles
    ``counts``/``table``, with the prior ``model``; ``settings`` are the sampler's
    (:class:`FlowDPSSettings`), ``options`` the run-level keys of the section."""
    device = pick_device(options["device"])
    prior = load_velocity(model, device)
    particles: ParticleSet = load_particles(counts, table, image_size=prior.patch)
    indices = shard_indices(len(particles), shard, options["shards"])
    log.info(
        "shard %d/%d: %d particles x %d samples, %d steps on %s",
        shard,
        options["shards"],
        len(indices),
        options["samples"],
        settings.steps,
        device,
    )
    return indices, sample_particles(particles, indices, prior, settings, options, seed, device)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem flowdps", __doc__.split("\n\n")[0], out="output .npz", tuned=True
    )
    parser.add_argument("--model", required=True, help="prior model (.pt from train-prior)")
    parser.add_argument("--counts", required=True, help="particle counts (N, H, W) MRC stack")
    parser.add_argument("--table", required=True, help="particle table (CSV)")
    parser.add_argument("--shard", type=int, default=1, help="shard to run (1-based)")
    options, settings = split_flowdps({})
    args, params = parse(parser, argv, {**options, **settings.to_dict()})
    options, settings = split_flowdps(params)
    setup_logging(args.log)
    indices, out = run(
        settings, options, args.model, args.counts, args.table, args.shard, args.seed
    )
    with atomic_path(Path(args.out)) as tmp:
        np.savez(tmp, indices=indices, **{**out, "status": out["status"].astype(str)})
    failed = int((out["status"] != "ok").sum())
    log.info("done: %d particles, %d failed", len(indices), failed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
