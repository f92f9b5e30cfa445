"""Command ``sample-prior``: draw images from the EMA prior and measure how well they match.

Writes the samples (MRC stack, physical units), a montage beside held-out images, and
``metrics.json`` with ``energy_distance_ratio`` (images and power spectra) and the raw distances.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flowem.command import command_parser, guarded, parse
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

log = logging.getLogger("flowem.sample_prior")

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


@dataclass
class PriorCheck:
    """Samples of the prior, the held-out images they are compared with, and the metrics."""

    samples: SampleRun
    heldout: np.ndarray  # (N, H, W)
    pixel_size_a: float
    metrics: dict[str, Any]


def run(settings: SampleSettings, model: str | Path, heldout: str | Path, seed: int) -> PriorCheck:
    """Sample the prior ``model`` and measure the samples against the ``heldout`` stack."""
    device = pick_device(settings.device)
    net, normaliser, payload = load_prior_model(model, device)
    images, voxel_size_a = read_mrc(heldout)
    images = images[None] if images.ndim == 2 else images
    if images.shape[1:] != (net.config.image_size,) * 2:
        raise ConfigError(
            f"{heldout}: images are {images.shape[1:]} but the prior "
            f"{model} makes {net.config.image_size} px images"
        )
    samples = generate(net, normaliser, settings, seed, device)
    log.info(
        "%d samples with %s: %d network evaluations in %.1f s",
        len(samples.images),
        settings.solver,
        samples.evaluations,
        samples.seconds,
    )
    metrics = prior_quality(samples.images, images, seed)
    metrics |= {
        "solver": settings.solver,
        "network_evaluations": samples.evaluations,
        "sampling_seconds": samples.seconds,
        "seconds_per_image_per_evaluation": samples.seconds_per_image_per_evaluation,
        "n_samples": len(samples.images),
        "n_heldout": len(images),
        "training_step": payload["step"],
    }
    pixel = voxel_size_a if voxel_size_a > 0 else 1.0
    return PriorCheck(samples, images, pixel, metrics)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem sample-prior", __doc__, threads=True)
    parser.add_argument("--model", required=True, help="EMA model written by train-prior (.pt)")
    parser.add_argument("--heldout", required=True, help="held-out images, (N, H, W) MRC stack")
    parser.add_argument("--samples", required=True, help="output: generated images (.mrcs)")
    parser.add_argument("--montage", required=True, help="output: samples beside held-out (.png)")
    parser.add_argument("--metrics", required=True, help="output: prior quality (.json)")
    args, params = parse(parser, argv, SampleSettings().to_dict())
    settings = SampleSettings.from_params(params)
    setup_logging(args.log, name=log.name)
    result = run(settings, args.model, args.heldout, args.seed)
    write_mrc(args.samples, result.samples.images, result.pixel_size_a)
    write_json(args.metrics, result.metrics)
    images, count = result.samples.images, settings.montage_count
    plot_montage(args.montage, images, result.heldout, count, unit="data units")
    write_run_config(
        Path(args.metrics).parent,
        {"model": args.model, "heldout": args.heldout, "seed": args.seed, **settings.to_dict()},
        name="sample_prior_config.json",
    )
    log.info(
        "energy_distance_ratio %.3f (images), %.3f (power spectra)",
        result.metrics["energy_distance_ratio"],
        result.metrics["power_spectrum_energy_distance_ratio"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
