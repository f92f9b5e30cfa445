"""Command ``restore``: EM restoration with the flow prior against every other restorer.

For each task (denoise, sr2, sr3, sr4, deblur, axial) a grid of crops of each held-out slice is
degraded (:mod:`flowem.restore.crops`: ``crop_grid`` x ``crop_grid`` crops per test slice, the
validation slices cut the same way) and restored by

- ``flow_<method>``: posterior sampling with the EM flow prior, one row per sampler of
  ``samplers`` (``dc``; ``si``, the supplement's update with its ``lr t^alpha`` schedule;
  ``pnp``, PnP-Flow with ``lr (1 - t)^alpha``), each tuned per task on the validation crops over
  its grid of ``tune`` (every grid the same size: the same budget);
- ``diffusion_dps``: DPS on a diffusion prior (``--diffusion-model``; ``dps_lr`` tuned the same
  way) for the ``diffusion_tasks``;
- ``supervised``: a network trained for the task (``--supervised``, one model file per task);
- each classical baseline (tuned on the validation crops too);

and scored against the ground truth per crop (PSNR, SSIM, FRC) and without it (NIQE with the
natural and an EM-fitted model, decorrelation resolution). The flow row with the best validation
PSNR of a task is *the* flow of that task: its figure panel, the reference of every paired
difference, the sampler of the speed comparison and of the extra experiments.

Writes into ``--outdir``: ``metrics.json`` (``{"tasks": {task: {row: {psnr, ssim, frc_nm, niqe,
niqe_em, decorrelation_nm, n, ci, ci_slices, paired}}}, "flow_row": {task: row},
"ground_truth": {...}, "speed": {...}}``; intervals: :mod:`flowem.restore.intervals`),
``metrics.csv`` (the same as a long table), ``metrics_per_crop.csv`` (every crop's scores),
``baseline_params.json`` (chosen hyperparameters; each flow row with every trial),
``extras.json`` (full-slice and real-volume runs), ``normalisation.json`` (each test
measurement's normalisation statistics, ``restore.normalise``), ``niqe_em_model.mat``,
``figures/<task>.png`` and ``restore_config.json``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from flowem.command import command_parser, guarded, parse
from flowem.io import write_json, write_table
from flowem.metrics import (
    NiqeModel,
    fit_niqe_model,
    natural_model,
    read_niqe_model,
    write_niqe_model,
)
from flowem.metrics.niqe import BLOCK
from flowem.posterior import SamplerSettings
from flowem.prior.velocity import load_velocity
from flowem.restore.baselines import BASELINES, Context, task_kind, tune
from flowem.restore.crops import Crops, cut_crops
from flowem.restore.evaluate import (
    DATA_RANGE,
    display_measurement,
    image_scores,
    no_reference_scores,
    plot_panels,
)
from flowem.restore.extras import axial_volume, full_slice, speed_comparison, speed_from_rows
from flowem.restore.intervals import flat_intervals, row_intervals
from flowem.restore.patches import read_em_volume
from flowem.restore.sampling import (
    DIFFUSION,
    SUPERVISED,
    Restorer,
    Rivals,
    Split,
    load_rivals,
    sampled_rows,
    split_key,
)
from flowem.restore.settings import RestoreSettings
from flowem.restore.tasks import TASKS, Task, make_task
from flowem.runtime import pick_device, setup_logging, write_run_config


def context_of(task: Task, shape: tuple[int, int]) -> Context:
    op = task.operator
    factor = getattr(op, "factor", 1)
    return Context(shape, factor, getattr(op, "psf", None), task.noise.std)


@dataclass
class TaskResult:
    """One task's rows: mean scores with intervals, per-crop scores, chosen hyperparameters,
    the flow row of the task and its sampler, seconds per restored image of the sampled rows."""

    scores: dict[str, dict]
    per_crop: pd.DataFrame
    chosen: dict[str, dict]
    flow_row: str
    sampler: SamplerSettings
    seconds: dict[str, float]
    panels: dict[str, np.ndarray]


def crop_table(name: str, method: str, crops: Crops, images: np.ndarray, pixel_nm: float):
    scores = [image_scores(t, i, pixel_nm) for t, i in zip(crops.images, images, strict=True)]
    return crops.table.assign(task=name, method=method, **pd.DataFrame(scores))


def run_task(
    index: int,
    name: str,
    restorer: Restorer,
    rivals: Rivals,
    test: Crops,
    val: Crops,
    settings: RestoreSettings,
    pixel_nm: float,
    em_model: NiqeModel | None,
    natural: NiqeModel | None = None,
) -> TaskResult:
    """Every row of task ``name``: restored, scored per crop, summarised with intervals."""
    task = make_task(name, settings.degradation)
    shape = tuple(test.images.shape[-2:])
    ctx = context_of(task, shape)
    test_split = Split(test, restorer.measure(task, test.images, split_key(index, "test")))
    val_split = Split(val, restorer.measure(task, val.images, split_key(index, "val")))
    results, chosen, samplers, seconds, subsets = sampled_rows(
        index, task, restorer, rivals, test_split, val_split, settings
    )
    flows = [row for row in results if row.startswith("flow_")]
    val_psnr = {row: chosen[row]["val_psnr"] for row in flows}  # None: not tuned; NaN: diverged
    flow_row = max(flows, key=lambda r: np.nan_to_num(val_psnr[r] or np.nan, nan=-np.inf))
    if name in rivals.supervised:
        tic = time.perf_counter()
        results[SUPERVISED] = rivals.supervised[name].restore(test_split.y, shape)
        seconds[SUPERVISED] = (time.perf_counter() - tic) / len(test)
    y_test, y_val = test_split.y.numpy()[:, 0], val_split.y.numpy()[:, 0]
    for baseline, (fn, grid) in BASELINES[task_kind(name)].items():
        params, best = tune(fn, grid, list(y_val), list(val.images), ctx)
        results[baseline] = np.stack([fn(m, ctx, **params) for m in y_test])
        chosen[baseline] = {"params": params, "val_psnr": best}
    per_crop = pd.concat(
        [
            crop_table(name, m, test.subset(subsets[m]) if m in subsets else test, images, pixel_nm)
            for m, images in results.items()
        ]
    )
    intervals = row_intervals(per_crop, flow_row)
    scores = {}
    for method, images in results.items():
        rows = per_crop[per_crop["method"] == method]
        scores[method] = {
            **{k: float(rows[k].mean()) for k in ("psnr", "ssim", "frc_nm")},
            **no_reference_scores(images, pixel_nm, em_model, natural),
            **intervals[method],
        }
    classical = [m for m in results if m in BASELINES[task_kind(name)]]
    best_classical = max(classical, key=lambda m: scores[m]["psnr"])
    panels = {
        "input": display_measurement(y_test[0], shape),
        best_classical: results[best_classical][0],
        flow_row: results[flow_row][0],
        **({SUPERVISED: results[SUPERVISED][0]} if SUPERVISED in results else {}),
        "ground truth": test.images[0],
    }
    return TaskResult(scores, per_crop, chosen, flow_row, samplers[flow_row], seconds, panels)


def metrics_rows(tasks: dict[str, dict]) -> pd.DataFrame:
    """The long table: one row per task and method, intervals as flat columns."""
    rows = [
        {"task": t, "method": m, **flat_intervals(s)}
        for t, methods in tasks.items()
        for m, s in methods.items()
    ]
    return pd.DataFrame(rows)


@dataclass
class Restoration:
    """What a restoration run measured: ``metrics`` (per task, ground truth, speed), per-crop
    scores, the hyperparameters chosen per task and method, and the extra experiments."""

    metrics: dict[str, Any]
    per_crop: pd.DataFrame
    chosen: dict[str, Any]
    extras: dict[str, Any]
    normalisation: dict[str, Any]  # per task, each test measurement's (restore.normalise)


def run(
    settings: RestoreSettings,
    model: str | Path,
    volume_path: str | Path | None,
    seed: int,
    outdir: Path,
    supervised: list[str | Path] = (),
    diffusion_model: str | Path | None = None,
    niqe_model: str | Path | None = None,
) -> Restoration:
    """Every task of ``settings`` on the EM volume with the prior ``model`` (and the rivals
    given); the figures (and the EM NIQE model) are written into ``outdir`` as they are made.
    ``niqe_model``: the natural-image NIQE model file (.mat or .npz; default: the registry's,
    fetched), read before anything is computed."""
    log = logging.getLogger("flowem.restore")
    natural = read_niqe_model(niqe_model) if niqe_model is not None else natural_model()
    device = pick_device(settings.device)
    prior = load_velocity(model, device)
    rivals = load_rivals(settings, seed, device, supervised, diffusion_model)
    volume, voxel_nm = read_em_volume(volume_path)
    pixel_nm = float(voxel_nm[-1])
    test = cut_crops(volume, settings.test_slices, settings.crop, settings.crop_grid)
    val = cut_crops(volume, settings.val_slices, settings.crop, settings.val_crop_grid)
    em_model = None
    if settings.niqe_slices and min(volume.shape[-2:]) >= BLOCK:  # else: too small for NIQE
        em_model = fit_niqe_model(
            list(volume[settings.niqe_slices]),
            DATA_RANGE,
            source=f"EM slices {settings.niqe_slices}",
        )
        write_niqe_model(outdir / "niqe_em_model.mat", em_model)
    restorer = Restorer(prior, seed, device)
    done: dict[str, TaskResult] = {}
    for name in tqdm(settings.tasks, desc="tasks"):
        tic = time.perf_counter()
        done[name] = result = run_task(
            TASKS.index(name),
            name,
            restorer,
            rivals,
            test,
            val,
            settings,
            pixel_nm,
            em_model,
            natural,
        )
        plot_panels(outdir / "figures" / f"{name}.png", result.panels, name)
        log.info(
            "%s (%.1f s, %d crops, flow row %s %s): %s",
            name,
            time.perf_counter() - tic,
            len(test),
            result.flow_row,
            result.chosen[result.flow_row]["params"],
            {m: round(s["psnr"], 2) for m, s in result.scores.items()},
        )
    sampler_of = lambda name: done[name].sampler if name in done else settings.sampler  # noqa: E731
    metrics: dict[str, Any] = {
        "tasks": {name: result.scores for name, result in done.items()},
        "flow_row": {name: result.flow_row for name, result in done.items()},
        "ground_truth": no_reference_scores(test.images, pixel_nm, em_model, natural),
    }
    if settings.speed:
        speed_task = done.get(settings.speed_task)
        if speed_task is not None and DIFFUSION in speed_task.scores:
            metrics["speed"] = speed_from_rows(speed_task, DIFFUSION, settings)
        else:
            first = test.table.groupby("slice").head(1).index  # one crop per slice
            speed_sampler = sampler_of(settings.speed_task)
            metrics["speed"] = speed_comparison(
                restorer, test.images[first], speed_sampler, settings
            )
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
            natural,
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
            natural,
        )
        log.info("axial volume: %s", extras["axial_volume"]["scores"])
    per_crop = pd.concat([result.per_crop for result in done.values()], ignore_index=True)
    chosen = {name: result.chosen for name, result in done.items()}
    normalisation = {
        "method": settings.normalise,
        "polarity": settings.polarity,
        "tasks": {name: restorer.test_normalisations(name, test, settings) for name in done},
    }
    return Restoration(metrics, per_crop, chosen, extras, normalisation)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem restore", __doc__, outdir="output folder (metrics.json, figures/)", threads=True
    )
    parser.add_argument("--model", required=True, help="EMA EM prior written by train-prior (.pt)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None, help="default: params")
    parser.add_argument("--volume", default=None, help="EM volume TIFF (default: fetch ISBI 2012)")
    parser.add_argument(
        "--supervised",
        nargs="+",
        default=[],
        metavar="MODEL",
        help="supervised networks from train-supervised (.pt, one per task): the supervised row",
    )
    parser.add_argument(
        "--niqe-model",
        default=None,
        help="natural-image NIQE model (.mat as the LIVE release, or BasicSR's .npz); "
        "default: fetch niqe/modelparameters.mat",
    )
    parser.add_argument(
        "--diffusion-model",
        default=None,
        help="diffusion EM prior (.pt): adds the diffusion_dps row and the speed comparison's "
        "diffusion arm",
    )
    args, params = parse(parser, argv, RestoreSettings().to_dict())
    if args.tasks:
        params["tasks"] = args.tasks
    settings = RestoreSettings.from_params(params)
    setup_logging(args.log, name="flowem.restore")
    outdir = Path(args.outdir)
    result = run(
        settings,
        args.model,
        args.volume,
        args.seed,
        outdir,
        supervised=args.supervised,
        diffusion_model=args.diffusion_model,
        niqe_model=args.niqe_model,
    )
    write_json(outdir / "metrics.json", result.metrics)
    write_table(outdir / "metrics.csv", metrics_rows(result.metrics["tasks"]))
    write_table(outdir / "metrics_per_crop.csv", result.per_crop)
    write_json(outdir / "baseline_params.json", result.chosen)  # flow rows: every trial
    write_json(outdir / "extras.json", result.extras)
    write_json(outdir / "normalisation.json", result.normalisation)
    config = {
        "model": args.model,
        "volume": args.volume,
        "supervised": args.supervised,
        "diffusion_model": args.diffusion_model,
        "niqe_model": args.niqe_model,
        "seed": args.seed,
        **settings.to_dict(),
    }
    write_run_config(outdir, config, name="restore_config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
