"""Command ``restore``: EM restoration with the flow prior against classical baselines.

For each task (denoise, sr2, sr3, sr4, deblur, axial) the held-out slices are degraded, restored
by posterior sampling with the EM prior (overlapping patches) and by each baseline (tuned on
validation slices), and scored against the ground truth. Writes into ``--outdir``:
``metrics.json`` (``{"tasks": {task: {method: {psnr, ssim, frc_nm}}}, "speed": {...}}``),
``metrics.csv``, ``baseline_params.json``, ``extras.json`` (full-slice and real-volume runs),
``figures/<task>.png`` (input / baseline / flow / ground truth) and ``restore_config.json``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from flowem.command import add_common_arguments, guarded, parse_params
from flowem.io import write_json, write_table
from flowem.restore.axial import axial_sample, fine_depth
from flowem.restore.baselines import BASELINES, Context, linear_z, task_kind, tune
from flowem.restore.evaluate import display_measurement, image_scores, mean_scores, plot_panels
from flowem.restore.patches import read_em_volume
from flowem.restore.samplers import SamplerSettings, sample
from flowem.restore.settings import RestoreSettings
from flowem.restore.stitching import StitchedVelocity, overlap_pixels
from flowem.restore.tasks import TASKS, Task, make_task
from flowem.restore.velocity import PriorVelocity, load_velocity
from flowem.runtime import pick_device, setup_logging, torch_generator, write_run_config

MEASURE_STREAM, NOISE_STREAM, FRESH_STREAM = 711, 712, 713


def centre_crop(images: np.ndarray, size: int) -> np.ndarray:
    h, w = images.shape[-2:]
    size = min(size, h, w)
    r, c = (h - size) // 2, (w - size) // 2
    return images[..., r : r + size, c : c + size]


def measure(task: Task, clean: np.ndarray, seed: int, key: int) -> torch.Tensor:
    """Degraded images (N, 1, h, w), the noise of each task/split drawn from its own stream."""
    x = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32)).unsqueeze(1)
    return task.measure(x, torch_generator(seed, MEASURE_STREAM, key))


def context_of(task: Task, shape: tuple[int, int], settings: RestoreSettings) -> Context:
    op = task.operator
    factor = getattr(op, "factor", 1)
    return Context(shape, factor, getattr(op, "psf", None), task.noise.std)


def flow_restore(
    prior: PriorVelocity,
    task: Task,
    y: torch.Tensor,
    shape: tuple[int, int],
    sampler: SamplerSettings,
    settings: RestoreSettings,
    seed: int,
    key: int,
    device: torch.device,
) -> np.ndarray:
    """Restorations (N, H, W) in data units: the mean of ``settings.samples_per_image``
    posterior samples per measurement, each from one global noise image."""
    overlap = overlap_pixels(prior.patch, settings.overlap_fraction)
    velocity = StitchedVelocity(prior, prior.patch, overlap, settings.batch_size)
    count = settings.samples_per_image
    y_rep = y.repeat_interleave(count, dim=0)
    noise = torch.randn((len(y_rep), 1, *shape), generator=torch_generator(seed, NOISE_STREAM, key))
    out = sample(
        velocity,
        noise.to(device),
        task.operator,
        prior.to_network(y_rep).to(device),
        sampler,
        generator=torch_generator(seed, FRESH_STREAM, key),
    )
    out = prior.to_data(out).float().cpu().reshape(len(y), count, *shape).mean(dim=1)
    return out.numpy()


def run_task(
    index: int,
    name: str,
    prior: PriorVelocity,
    truths: np.ndarray,
    val_truths: np.ndarray,
    settings: RestoreSettings,
    seed: int,
    device: torch.device,
    pixel_nm: float,
) -> tuple[dict, dict, dict]:
    """Scores per method, the chosen baseline hyperparameters, figure panels (first image)."""
    task = make_task(name, settings.degradation)
    shape = tuple(truths.shape[-2:])
    ctx = context_of(task, shape, settings)
    y = measure(task, truths, seed, 2 * index)
    y_val = measure(task, val_truths, seed, 2 * index + 1).numpy()[:, 0]
    sampler = replace(settings.sampler, lr=settings.task_lr.get(name, settings.sampler.lr))
    flow = flow_restore(prior, task, y, shape, sampler, settings, seed, index, device)
    scores = {"flow": mean_scores(truths, flow, pixel_nm)}
    chosen, best_name, best_image = {}, None, None
    for baseline, (fn, grid) in BASELINES[task_kind(name)].items():
        params, val_psnr = tune(fn, grid, list(y_val), list(val_truths), ctx)
        restored = np.stack([fn(m, ctx, **params) for m in y.numpy()[:, 0]])
        scores[baseline] = mean_scores(truths, restored, pixel_nm)
        chosen[baseline] = {"params": params, "val_psnr": val_psnr}
        if best_name is None or scores[baseline]["psnr"] > scores[best_name]["psnr"]:
            best_name, best_image = baseline, restored[0]
    panels = {
        "input": display_measurement(y.numpy()[0, 0], shape),
        f"{best_name}": best_image,
        "flow": flow[0],
        "ground truth": truths[0],
    }
    return scores, chosen, panels


def speed_comparison(
    prior: PriorVelocity, truth: np.ndarray, settings: RestoreSettings, seed: int, device
) -> dict[str, float]:
    """SI flow sampler vs flow DPS (many steps, gradient through the network) on one patch."""
    task = make_task(settings.speed_task, settings.degradation)
    patch = centre_crop(truth, prior.patch)[None]
    y = measure(task, patch, seed, 100)
    out: dict[str, float] = {}
    for label, method in (("flow", "si"), ("diffusion", "dps")):
        sampler = SamplerSettings(**{**settings.sampler.to_dict(), "method": method})
        tic = time.perf_counter()
        image = flow_restore(prior, task, y, patch.shape[-2:], sampler, settings, seed, 100, device)
        out[f"{label}_seconds"] = time.perf_counter() - tic
        out[f"psnr_{label}"] = image_scores(patch[0], image[0], 1.0)["psnr"]
    return out


def full_slice(prior, volume, settings: RestoreSettings, seed: int, device, pixel_nm, outdir):
    """One full 512 x 512 slice restored with stitching: scores, seconds and a figure."""
    name = settings.full_slice_task
    task = make_task(name, settings.degradation)
    truth = volume[settings.test_slices[:1]]
    y = measure(task, truth, seed, 200)
    tic = time.perf_counter()
    flow = flow_restore(
        prior, task, y, truth.shape[-2:], settings.sampler, settings, seed, 200, device
    )
    seconds = time.perf_counter() - tic
    plot_panels(
        outdir / "figures" / "full_slice.png",
        {
            "input": display_measurement(y.numpy()[0, 0], truth.shape[-2:]),
            "flow": flow[0],
            "ground truth": truth[0],
        },
        f"{name}, full slice {truth.shape[-2]} x {truth.shape[-1]} (stitched)",
    )
    return {"task": name, "seconds": seconds, "flow": mean_scores(truth, flow, pixel_nm)}


def axial_volume(prior, volume, voxel_nm, settings: RestoreSettings, seed: int, device, outdir):
    """Qualitative axial SR of the real anisotropic held-out volume: xz / yz figures."""
    from flowem.metrics import decorrelation_resolution

    factor = settings.axial_volume_factor
    measured = centre_crop(volume[settings.test_slices], settings.axial_volume_crop)
    depth = fine_depth(len(measured), factor)
    y = torch.from_numpy(np.ascontiguousarray(measured))[None, None]
    noise = torch.randn((1, 1, depth, *measured.shape[1:]), generator=torch_generator(seed, 300))
    sampler = settings.sampler
    if sampler.method == "dps":
        sampler = SamplerSettings(**{**sampler.to_dict(), "method": "si"})
    overlap = overlap_pixels(prior.patch, settings.overlap_fraction)
    velocity = StitchedVelocity(prior, prior.patch, overlap, settings.batch_size)
    tic = time.perf_counter()
    x = axial_sample(
        velocity,
        noise.to(device),
        prior.to_network(y).to(device),
        factor,
        sampler,
        torch_generator(seed, 301),
        settings.batch_size,
    )
    seconds = time.perf_counter() - tic
    flow = prior.to_data(x).float().cpu().numpy()[0, 0]
    ctx = Context((depth, measured.shape[2]), factor)
    linear = np.stack([linear_z(measured[:, i, :], ctx) for i in range(measured.shape[1])], axis=1)
    mid = measured.shape[1] // 2
    plot_panels(
        outdir / "figures" / "axial_volume.png",
        {
            "xz linear": linear[:, mid, :],
            "xz flow": flow[:, mid, :],
            "yz linear": linear[:, :, mid],
            "yz flow": flow[:, :, mid],
        },
        f"real volume, z x{factor} ({voxel_nm[0]:g} -> {voxel_nm[0] / factor:.2f} nm)",
    )
    z_nm = voxel_nm[0] / factor
    return {
        "factor": factor,
        "shape": list(flow.shape),
        "seconds": seconds,
        "decorrelation_nm_xz": {
            name: float(decorrelation_resolution(img[:, mid, :], z_nm))
            for name, img in (("flow", flow), ("linear", linear))
        },
    }


def metrics_rows(tasks: dict[str, dict]) -> pd.DataFrame:
    rows = [
        {"task": t, "method": m, **s} for t, methods in tasks.items() for m, s in methods.items()
    ]
    return pd.DataFrame(rows)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowem restore", description=__doc__)
    parser.add_argument("--model", required=True, help="EMA EM prior written by train-prior (.pt)")
    parser.add_argument("--outdir", required=True, help="output folder (metrics.json, figures/)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None, help="default: params")
    parser.add_argument("--volume", default=None, help="EM volume TIFF (default: fetch ISBI 2012)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    if args.tasks:
        params["tasks"] = args.tasks
    settings = RestoreSettings.from_params(params)
    if args.threads:
        torch.set_num_threads(args.threads)
    log = setup_logging(args.log, name="flowem.restore")
    outdir = Path(args.outdir)
    device = pick_device(settings.device)
    prior = load_velocity(args.model, device)
    volume, voxel_nm = read_em_volume(args.volume)
    pixel_nm = float(voxel_nm[-1])
    truths = centre_crop(volume[settings.test_slices], settings.crop)
    val_truths = centre_crop(volume[settings.val_slices], settings.crop)
    tasks, chosen = {}, {}
    for name in tqdm(settings.tasks, desc="tasks"):
        tic = time.perf_counter()
        index = TASKS.index(name)
        scores, chosen[name], panels = run_task(
            index, name, prior, truths, val_truths, settings, args.seed, device, pixel_nm
        )
        tasks[name] = scores
        plot_panels(outdir / "figures" / f"{name}.png", panels, name)
        log.info(
            "%s (%.1f s): %s",
            name,
            time.perf_counter() - tic,
            {m: round(s["psnr"], 2) for m, s in scores.items()},
        )
    metrics: dict[str, Any] = {"tasks": tasks}
    if settings.speed:
        metrics["speed"] = speed_comparison(prior, truths[0], settings, args.seed, device)
        log.info("speed: %s", metrics["speed"])
    extras: dict[str, Any] = {}
    if settings.full_slice_task:
        extras["full_slice"] = full_slice(
            prior, volume, settings, args.seed, device, pixel_nm, outdir
        )
    if settings.axial_volume_factor > 1:
        extras["axial_volume"] = axial_volume(
            prior, volume, voxel_nm, settings, args.seed, device, outdir
        )
    write_json(outdir / "metrics.json", metrics)
    write_table(outdir / "metrics.csv", metrics_rows(tasks))
    write_json(outdir / "baseline_params.json", chosen)
    write_json(outdir / "extras.json", extras)
    config = {"model": args.model, "volume": args.volume, "seed": args.seed, **settings.to_dict()}
    write_run_config(outdir, config, name="restore_config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
