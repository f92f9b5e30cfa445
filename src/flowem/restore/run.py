"""Command ``restore``: EM restoration with the flow prior against classical baselines.

For each task (denoise, sr2, sr3, sr4, deblur, axial) the held-out slices are degraded, restored
by posterior sampling with the EM prior (overlapping patches; the sampler's ``tune`` grid chosen
per task on the validation slices) and by each baseline (tuned there too), and scored against the
ground truth (PSNR, SSIM, FRC) and without it (NIQE with the natural and an EM-fitted model,
decorrelation resolution). Writes into ``--outdir``: ``metrics.json``
(``{"tasks": {task: {method: {psnr, ssim, frc_nm, niqe, niqe_em, decorrelation_nm}}},
"ground_truth": {...}, "speed": {...}}``), ``metrics.csv``, ``baseline_params.json`` (chosen
hyperparameters, ``flow``: the tuned sampler with every trial), ``extras.json`` (full-slice and
real-volume runs), ``niqe_em_model.mat``, ``figures/<task>.png`` (input / best baseline / flow /
ground truth) and ``restore_config.json``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from flowem.command import command_parser, guarded, parse
from flowem.io import write_json, write_table
from flowem.metrics import NiqeModel, fit_niqe_model, write_niqe_model
from flowem.metrics.niqe import BLOCK
from flowem.physics.boxes import centre_crop_or_pad
from flowem.posterior import SamplerSettings, sample
from flowem.prior.velocity import PriorVelocity, load_velocity
from flowem.restore.baselines import BASELINES, Context, task_kind, tune
from flowem.restore.evaluate import (
    DATA_RANGE,
    display_measurement,
    mean_scores,
    no_reference_scores,
    plot_panels,
)
from flowem.restore.extras import axial_volume, full_slice, speed_comparison
from flowem.restore.patches import read_em_volume
from flowem.restore.settings import RestoreSettings
from flowem.restore.stitching import StitchedVelocity, overlap_pixels
from flowem.restore.tasks import TASKS, Task, make_task
from flowem.restore.tuning import tune_sampler
from flowem.runtime import pick_device, setup_logging, torch_generator, write_run_config

MEASURE_STREAM, NOISE_STREAM, FRESH_STREAM = 711, 712, 713


def measure(task: Task, clean: np.ndarray, seed: int, key: int) -> torch.Tensor:
    """Degraded images (N, 1, h, w), the noise of each task/split drawn from its own stream."""
    x = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32)).unsqueeze(1)
    return task.measure(x, torch_generator(seed, MEASURE_STREAM, key))


def context_of(task: Task, shape: tuple[int, int], settings: RestoreSettings) -> Context:
    op = task.operator
    factor = getattr(op, "factor", 1)
    return Context(shape, factor, getattr(op, "psf", None), task.noise.std)


@dataclass
class Restorer:
    """The prior, seed and device of a run: measurements and flow restorations."""

    prior: PriorVelocity
    seed: int
    device: torch.device

    def measure(self, task: Task, clean: np.ndarray, key: int) -> torch.Tensor:
        return measure(task, clean, self.seed, key)

    def restore(
        self,
        task: Task,
        y: torch.Tensor,
        sampler: SamplerSettings,
        settings: RestoreSettings,
        key: int,
        shape: tuple[int, int],
        samples: int | None = None,
    ) -> np.ndarray:
        """Restorations (N, H, W) in data units: the mean of ``samples`` (default
        ``settings.samples_per_image``) posterior samples per measurement, each from one
        global noise image."""
        prior = self.prior
        overlap = overlap_pixels(prior.patch, settings.overlap_fraction)
        velocity = StitchedVelocity(prior, prior.patch, overlap, settings.batch_size)
        count = samples or settings.samples_per_image
        y_rep = y.repeat_interleave(count, dim=0)
        generator = torch_generator(self.seed, NOISE_STREAM, key)
        noise = torch.randn((len(y_rep), 1, *shape), generator=generator)
        out = sample(
            velocity,
            noise.to(self.device),
            task.operator,
            y_rep.to(self.device),
            sampler,
            torch_generator(self.seed, FRESH_STREAM, key),
            scale=prior.scale,
            noise_std=task.noise.std,
        )
        out = out.float().cpu().reshape(len(y), count, *shape).mean(dim=1)
        return out.numpy()


def tuned_sampler(
    restorer: Restorer,
    task: Task,
    index: int,
    y_val: torch.Tensor,
    val_truths: np.ndarray,
    settings: RestoreSettings,
) -> tuple[SamplerSettings, dict]:
    """The task's sampler: ``settings.tune`` searched on the validation images, else
    ``sampler`` with the task's ``task_lr``."""
    base = replace(settings.sampler, lr=settings.task_lr.get(task.name, settings.sampler.lr))
    if not settings.tune:
        return base, {"params": {}, "val_psnr": None, "trials": []}
    shape = tuple(val_truths.shape[-2:])

    def score(sampler: SamplerSettings) -> float:
        images = restorer.restore(
            task, y_val, sampler, settings, 1000 + index, shape, settings.tune_samples
        )
        return mean_scores(val_truths, images, 1.0)["psnr"]

    return tune_sampler(score, base, settings.tune)


def run_task(
    index: int,
    name: str,
    restorer: Restorer,
    truths: np.ndarray,
    val_truths: np.ndarray,
    settings: RestoreSettings,
    pixel_nm: float,
    em_model: NiqeModel | None,
) -> tuple[dict, dict, dict, SamplerSettings]:
    """Scores per method, the chosen hyperparameters (baselines and flow sampler), figure
    panels (first image) and the task's sampler."""
    task = make_task(name, settings.degradation)
    shape = tuple(truths.shape[-2:])
    ctx = context_of(task, shape, settings)
    y = restorer.measure(task, truths, 2 * index)
    y_val = restorer.measure(task, val_truths, 2 * index + 1)
    sampler, chosen_flow = tuned_sampler(restorer, task, index, y_val, val_truths, settings)
    flow = restorer.restore(task, y, sampler, settings, index, shape)
    results = {"flow": flow}
    chosen = {"flow": chosen_flow}
    for baseline, (fn, grid) in BASELINES[task_kind(name)].items():
        params, val_psnr = tune(fn, grid, list(y_val.numpy()[:, 0]), list(val_truths), ctx)
        results[baseline] = np.stack([fn(m, ctx, **params) for m in y.numpy()[:, 0]])
        chosen[baseline] = {"params": params, "val_psnr": val_psnr}
    scores = {
        method: {
            **mean_scores(truths, images, pixel_nm),
            **no_reference_scores(images, pixel_nm, em_model),
        }
        for method, images in results.items()
    }
    best_name = max((m for m in scores if m != "flow"), key=lambda m: scores[m]["psnr"])
    panels = {
        "input": display_measurement(y.numpy()[0, 0], shape),
        best_name: results[best_name][0],
        "flow": flow[0],
        "ground truth": truths[0],
    }
    return scores, chosen, panels, sampler


def metrics_rows(tasks: dict[str, dict]) -> pd.DataFrame:
    rows = [
        {"task": t, "method": m, **s} for t, methods in tasks.items() for m, s in methods.items()
    ]
    return pd.DataFrame(rows)


@dataclass
class Restoration:
    """What a restoration run measured: ``metrics`` (per task, ground truth, speed), the
    hyperparameters chosen per task and method, and the extra experiments' results."""

    metrics: dict[str, Any]
    chosen: dict[str, Any]
    extras: dict[str, Any]


def run(
    settings: RestoreSettings,
    model: str | Path,
    volume_path: str | Path | None,
    seed: int,
    outdir: Path,
) -> Restoration:
    """Every task of ``settings`` on the EM volume with the prior ``model``; the figures (and
    the EM NIQE model) are written into ``outdir`` as they are made."""
    log = logging.getLogger("flowem.restore")
    device = pick_device(settings.device)
    prior = load_velocity(model, device)
    volume, voxel_nm = read_em_volume(volume_path)
    pixel_nm = float(voxel_nm[-1])
    truths = centre_crop_or_pad(volume[settings.test_slices], settings.crop, pad=False)
    val_truths = centre_crop_or_pad(volume[settings.val_slices], settings.crop, pad=False)
    em_model = None
    if settings.niqe_slices and min(volume.shape[-2:]) >= BLOCK:  # else: too small for NIQE
        em_model = fit_niqe_model(
            list(volume[settings.niqe_slices]),
            DATA_RANGE,
            source=f"EM slices {settings.niqe_slices}",
        )
        write_niqe_model(outdir / "niqe_em_model.mat", em_model)
    restorer = Restorer(prior, seed, device)
    tasks, chosen, samplers = {}, {}, {}
    for name in tqdm(settings.tasks, desc="tasks"):
        tic = time.perf_counter()
        scores, chosen[name], panels, samplers[name] = run_task(
            TASKS.index(name), name, restorer, truths, val_truths, settings, pixel_nm, em_model
        )
        tasks[name] = scores
        plot_panels(outdir / "figures" / f"{name}.png", panels, name)
        log.info(
            "%s (%.1f s, sampler %s): %s",
            name,
            time.perf_counter() - tic,
            chosen[name]["flow"]["params"],
            {m: round(s["psnr"], 2) for m, s in scores.items()},
        )
    sampler_of = lambda name: samplers.get(name, settings.sampler)  # noqa: E731
    metrics: dict[str, Any] = {
        "tasks": tasks,
        "ground_truth": no_reference_scores(truths, pixel_nm, em_model),
    }
    if settings.speed:
        speed_sampler = sampler_of(settings.speed_task)
        metrics["speed"] = speed_comparison(restorer, truths, speed_sampler, settings)
        log.info("speed: %s", metrics["speed"])
    extras: dict[str, Any] = {}
    if settings.full_slice_task:
        extras["full_slice"] = full_slice(
            restorer,
            volume,
            settings,
            sampler_of(settings.full_slice_task),
            pixel_nm,
            em_model,
            outdir,
        )
    if settings.axial_volume_factor > 1:
        extras["axial_volume"] = axial_volume(
            prior,
            volume,
            voxel_nm,
            settings,
            sampler_of("axial"),
            seed,
            device,
            em_model,
            outdir,
        )
        log.info("axial volume: %s", extras["axial_volume"]["scores"])
    return Restoration(metrics, chosen, extras)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem restore", __doc__, outdir="output folder (metrics.json, figures/)", threads=True
    )
    parser.add_argument("--model", required=True, help="EMA EM prior written by train-prior (.pt)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None, help="default: params")
    parser.add_argument("--volume", default=None, help="EM volume TIFF (default: fetch ISBI 2012)")
    args, params = parse(parser, argv, RestoreSettings().to_dict())
    if args.tasks:
        params["tasks"] = args.tasks
    settings = RestoreSettings.from_params(params)
    setup_logging(args.log, name="flowem.restore")
    outdir = Path(args.outdir)
    result = run(settings, args.model, args.volume, args.seed, outdir)
    write_json(outdir / "metrics.json", result.metrics)
    write_table(outdir / "metrics.csv", metrics_rows(result.metrics["tasks"]))
    write_json(outdir / "baseline_params.json", result.chosen)  # "flow": the tuned sampler
    write_json(outdir / "extras.json", result.extras)
    config = {"model": args.model, "volume": args.volume, "seed": args.seed, **settings.to_dict()}
    write_run_config(outdir, config, name="restore_config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
