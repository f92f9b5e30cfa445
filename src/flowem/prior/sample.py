"""Command ``sample-prior``: draw images from the EMA prior and measure how well they match.

Writes the samples (MRC stack, physical units), a montage beside held-out images, and
``metrics.json`` with ``energy_distance_ratio`` (images and power spectra) and the raw distances.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flowem.command import add_common_arguments, guarded, parse_params
from flowem.errors import ConfigError
from flowem.io import read_mrc, write_json, write_mrc
from flowem.prior.checkpoint import load_prior_model
from flowem.prior.dataset import Normaliser
from flowem.prior.figures import plot_montage
from flowem.prior.network import VelocityNet
from flowem.prior.quality import prior_quality
from flowem.prior.settings import SampleSettings
from flowem.prior.solvers import dopri5, euler
from flowem.runtime import pick_device, setup_logging, torch_generator, write_run_config

SAMPLE_STREAM = 405


@dataclass
class SampleRun:
    """Samples in physical units and what producing them cost."""

    images: np.ndarray  # (N, H, W) float32
    evaluations: int  # network calls, summed over batches
    image_evaluations: int  # network calls times the images in each call
    seconds: float

    @property
    def seconds_per_image_per_evaluation(self) -> float:
        return self.seconds / max(self.image_evaluations, 1)


@torch.no_grad()
def generate(
    net: VelocityNet,
    normaliser: Normaliser,
    settings: SampleSettings,
    seed: int,
    device: torch.device,
) -> SampleRun:
    """``settings.n_samples`` prior samples; batch ``b`` starts from noise seeded (seed, b)."""
    size, channels = net.config.image_size, net.config.channels
    chunks, evaluations, image_evaluations = [], 0, 0
    tic = time.perf_counter()
    for index, start in enumerate(range(0, settings.n_samples, settings.batch_size)):
        count = min(settings.batch_size, settings.n_samples - start)
        gen = torch_generator(seed, SAMPLE_STREAM, index)
        x0 = torch.randn((count, channels, size, size), generator=gen).to(device)
        if settings.solver == "euler":
            solution = euler(net, x0, settings.steps)
        else:
            solution = dopri5(net, x0, rtol=settings.rtol, atol=settings.atol)
        evaluations += solution.evaluations
        image_evaluations += solution.evaluations * count
        chunks.append(normaliser.to_physical(solution.x.float()).cpu().numpy()[:, 0])
    seconds = time.perf_counter() - tic
    images = np.concatenate(chunks).astype(np.float32)
    return SampleRun(images, evaluations, image_evaluations, seconds)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowem sample-prior", description=__doc__)
    parser.add_argument("--model", required=True, help="EMA model written by train-prior (.pt)")
    parser.add_argument("--heldout", required=True, help="held-out images, (N, H, W) MRC stack")
    parser.add_argument("--samples", required=True, help="output: generated images (.mrcs)")
    parser.add_argument("--montage", required=True, help="output: samples beside held-out (.png)")
    parser.add_argument("--metrics", required=True, help="output: prior quality (.json)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    settings = SampleSettings.from_params(parse_params(args.params))
    if args.threads:
        torch.set_num_threads(args.threads)
    log = setup_logging(args.log, name="flowem.sample_prior")
    device = pick_device(settings.device)
    net, normaliser, payload = load_prior_model(args.model, device)
    heldout, voxel_size_a = read_mrc(args.heldout)
    heldout = heldout[None] if heldout.ndim == 2 else heldout
    if heldout.shape[1:] != (net.config.image_size,) * 2:
        raise ConfigError(
            f"{args.heldout}: images are {heldout.shape[1:]} but the prior "
            f"{args.model} makes {net.config.image_size} px images"
        )
    run = generate(net, normaliser, settings, args.seed, device)
    log.info(
        "%d samples with %s: %d network evaluations in %.1f s",
        len(run.images),
        settings.solver,
        run.evaluations,
        run.seconds,
    )
    write_mrc(args.samples, run.images, voxel_size_a if voxel_size_a > 0 else 1.0)
    metrics = prior_quality(run.images, heldout, args.seed)
    metrics |= {
        "solver": settings.solver,
        "network_evaluations": run.evaluations,
        "sampling_seconds": run.seconds,
        "seconds_per_image_per_evaluation": run.seconds_per_image_per_evaluation,
        "n_samples": len(run.images),
        "n_heldout": len(heldout),
        "training_step": payload["step"],
    }
    write_json(args.metrics, metrics)
    plot_montage(args.montage, run.images, heldout, settings.montage_count, unit="data units")
    write_run_config(
        Path(args.metrics).parent,
        {"model": args.model, "heldout": args.heldout, "seed": args.seed, **settings.to_dict()},
        name="sample_prior_config.json",
    )
    log.info(
        "energy_distance_ratio %.3f (images), %.3f (power spectra)",
        metrics["energy_distance_ratio"],
        metrics["power_spectrum_energy_distance_ratio"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
