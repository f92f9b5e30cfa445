"""Command ``restore-generalist``: the EM prior of a corpus judged per data set.

Each data set of the corpus (:mod:`flowem.restore.corpus`, read and normalised as for training)
is restored on its own test sections: a grid of ``em_corpus.crop`` px crops per section
(``crop_grid``; its validation sections cut by ``val_crop_grid`` tune every row), for each of
``em_corpus.tasks``, by the restoration table's rows (:func:`flowem.restore.run.run_task`):
``flow_<sampler>`` for each of ``restore.samplers`` and every classical baseline, scored per crop
(PSNR, SSIM) with 95 % intervals over crops (``ci``) and over sections (``ci_slices``) and
paired differences against the task's flow row. The crops are in normalised units already, so
the restoration runs on them as they are (``restore.normalise`` is set to ``fixed``) and the
degradation's noise (``restore.degradation``) is in the units of every data set alike.

A data set without a clean reference (``reference: false``, the noisy SEM image) is denoised
as it is (the centred ``no_reference_crop`` of each test section, its noise std estimated by
the wavelet median estimator) and scored without reference: NIQE (natural-image model) and
decorrelation resolution, for the flow rows (untuned: ``restore.sampler`` switched to each
sampler), each denoising baseline at the middle of its grid (nothing to tune on) and the input.

``--held all`` restores every data set in use with the prior trained on all of them
(``in_domain``); ``--held D`` restores data set ``D`` alone with the prior trained without it
(``leave_one_out``). Writes ``--outdir``/``scores.json`` as ``{"datasets": {name: {part:
{task: {method: {psnr, ssim, ci, ci_slices, n, paired}}}}}, "flow_row": {name: {part: {task:
row}}}, "sets": {name: {...}}}``, ``figures/<set>_<task>.png`` and
``restore_generalist_config.json``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from flowem.command import command_parser, guarded, parse
from flowem.errors import ConfigError
from flowem.io import write_json
from flowem.metrics import NiqeModel, read_niqe_model
from flowem.restore.baselines import BASELINES, Context, grid_points
from flowem.restore.corpus import (
    CorpusSet,
    CorpusSettings,
    data_locator,
    load_corpus,
    load_set,
)
from flowem.restore.crops import Crops, cut_crops
from flowem.restore.evaluate import no_reference_scores, plot_panels
from flowem.restore.sampling import Restorer, Rivals
from flowem.restore.settings import RestoreSettings
from flowem.restore.tasks import TASKS, make_task
from flowem.restore.tuning import row_sampler
from flowem.runtime import pick_device, setup_logging, write_run_config

ROW_KEYS = ("psnr", "ssim", "ci", "ci_slices", "n", "paired")
NO_REFERENCE_KEY = 900  # the measurement stream key of the reference-free restorations


def section_crops(sections: list[np.ndarray], indices: list[int], crop: int, grid: int) -> Crops:
    """The ``grid x grid`` crops of each section at ``indices`` (sections of any shapes),
    numbered in order; ``slice`` is the section's number."""
    parts = [cut_crops(sections[i][None], [0], crop, grid) for i in indices]
    images = np.concatenate([p.images for p in parts])
    tables = [p.table.assign(slice=i) for p, i in zip(parts, indices, strict=True)]
    table = pd.concat(tables, ignore_index=True)
    table["crop"] = np.arange(len(table))
    return Crops(images, table)


def evaluation_settings(restore: RestoreSettings, corpus: CorpusSettings) -> RestoreSettings:
    """The restore settings with the corpus's tasks and crops; no re-normalisation (the
    crops are normalised) and no rivals' extras."""
    return replace(
        restore,
        tasks=list(corpus.tasks),
        crop=corpus.crop,
        crop_grid=corpus.crop_grid,
        val_crop_grid=corpus.val_crop_grid,
        normalise="fixed",
        polarity="dark",
    )


def reference_rows(
    data: CorpusSet,
    restorer: Restorer,
    settings: RestoreSettings,
    natural: NiqeModel | None,
    figures: Path | None,
) -> tuple[dict[str, dict], dict[str, str]]:
    """Per task, every row's scores on the data set's test crops, and the flow row."""
    from flowem.restore.run import run_task

    test = section_crops(data.sections, data.split("test"), settings.crop, settings.crop_grid)
    val = section_crops(data.sections, data.split("val"), settings.crop, settings.val_crop_grid)
    pixel_nm = float(np.mean([data.pixel_nm[i] for i in data.split("test")]))
    tasks, flow_rows = {}, {}
    for name in settings.tasks:
        result = run_task(
            TASKS.index(name),
            name,
            restorer,
            Rivals(),
            test,
            val,
            settings,
            pixel_nm,
            None,
            natural,
        )
        tasks[name] = {
            method: {k: scores.get(k) for k in ROW_KEYS} for method, scores in result.scores.items()
        }
        flow_rows[name] = result.flow_row
        if figures is not None:
            plot_panels(figures / f"{data.name}_{name}.png", result.panels, f"{data.name} {name}")
    return tasks, flow_rows


def centred(image: np.ndarray, size: int) -> np.ndarray:
    """The centred ``size`` px square of ``image`` (all of it for 0 or a smaller image)."""
    h, w = image.shape
    if size <= 0 or size >= min(h, w):
        return image
    r, c = (h - size) // 2, (w - size) // 2
    return image[r : r + size, c : c + size]


def middle_point(grid: dict[str, list]) -> dict[str, Any]:
    points = grid_points(grid)
    return points[(len(points) - 1) // 2]


def no_reference_rows(
    data: CorpusSet,
    restorer: Restorer,
    settings: RestoreSettings,
    crop: int,
    natural: NiqeModel | None,
) -> dict[str, dict]:
    """The denoising rows of a data set without clean images, scored without reference."""
    from flowem.restore.user_image import estimate_noise

    images = [centred(data.sections[i], crop) for i in data.split("test")]
    pixel_nm = float(np.mean([data.pixel_nm[i] for i in data.split("test")]))
    rows: dict[str, dict] = {}

    def score(method: str, restored: list[np.ndarray], params: dict | None = None) -> None:
        found = [no_reference_scores(r[None], pixel_nm, None, natural) for r in restored]
        mean = lambda key: _mean([f.get(key) for f in found])  # noqa: E731
        rows[method] = {"psnr": None, "ssim": None, "ci": None, "n": len(restored)}
        rows[method] |= {"niqe": mean("niqe"), "decorrelation_nm": mean("decorrelation_nm")}
        if params is not None:
            rows[method]["params"] = params

    score("input", images)
    sigmas = [estimate_noise(image) for image in images]
    for method in settings.flow_methods:
        sampler = row_sampler(settings.sampler, method) if settings.samplers else settings.sampler
        restored = []
        for k, (image, sigma) in enumerate(zip(images, sigmas, strict=True)):
            degradation = replace(
                settings.degradation, denoise_noise="gaussian", denoise_sigma=max(sigma, 1e-6)
            )
            task = make_task("denoise", degradation)
            y = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None, None]
            key = NO_REFERENCE_KEY + k
            restored.append(restorer.restore(task, y, sampler, settings, key, image.shape)[0])
        score(f"flow_{method}", restored)
    for method, (fn, grid) in BASELINES["denoise"].items():
        params = middle_point(grid)
        restored = [
            fn(image, Context(image.shape, noise_std=sigma), **params)
            for image, sigma in zip(images, sigmas, strict=True)
        ]
        score(method, restored, params)
    return {"denoise": rows}


def _mean(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(found)) if found else None


def set_info(data: CorpusSet) -> dict[str, Any]:
    return {
        "reference": data.spec.reference,
        "pixel_nm": sorted(set(data.pixel_nm)),
        "polarity": sorted({f.polarity for f in data.fits}),
        "dtype": sorted({f.dtype for f in data.fits}),
        "test_sections": data.split("test"),
        "val_sections": data.split("val"),
    }


def run(
    corpus: CorpusSettings,
    restore: RestoreSettings,
    sets: list[CorpusSet],
    model: str | Path,
    seed: int,
    part: str,
    natural: NiqeModel | None,
    figures: Path | None = None,
) -> dict[str, Any]:
    """Every data set of ``sets`` restored with the prior ``model``, under key ``part``."""
    from flowem.prior.velocity import load_velocity

    log = logging.getLogger("flowem.restore_generalist")
    settings = evaluation_settings(restore, corpus)
    device = pick_device(settings.device)
    restorer = Restorer(load_velocity(model, device), seed, device)
    out: dict[str, Any] = {"datasets": {}, "flow_row": {}, "sets": {}}
    for data in sets:
        if data.spec.reference:
            tasks, flow_rows = reference_rows(data, restorer, settings, natural, figures)
            out["flow_row"][data.name] = {part: flow_rows}
        else:
            tasks = no_reference_rows(data, restorer, settings, corpus.no_reference_crop, natural)
        out["datasets"][data.name] = {part: tasks}
        out["sets"][data.name] = set_info(data)
        log.info("%s %s: %s", data.name, part, _summary(tasks))
    return out


def _summary(tasks: dict[str, dict]) -> dict[str, dict]:
    """PSNR (NIQE without reference) of each row, rounded, for the log."""
    out = {}
    for task, rows in tasks.items():
        values = {
            m: s["psnr"] if s.get("psnr") is not None else s.get("niqe") for m, s in rows.items()
        }
        out[task] = {m: None if v is None else round(v, 2) for m, v in values.items()}
    return out


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem restore-generalist", __doc__, outdir="output folder (scores.json)", threads=True
    )
    parser.add_argument("--model", required=True, help="EM prior of the corpus (.pt)")
    parser.add_argument(
        "--held", default="all", help="'all' (in-domain) or the data set the prior never saw"
    )
    parser.add_argument("--niqe-model", default=None, help="natural-image NIQE model (.mat)")
    defaults = {"corpus": CorpusSettings().to_dict(), "restore": RestoreSettings().to_dict()}
    args, params = parse(parser, argv, {**defaults, "data": {}})
    corpus = CorpusSettings.from_params(params.get("corpus", {}))
    restore = RestoreSettings.from_params(params.get("restore", {}))
    setup_logging(args.log, name="flowem.restore_generalist")
    locate = data_locator(params.get("data", {}), corpus.include_restricted)
    if args.held == "all":
        sets, part = load_corpus(corpus, locate), "in_domain"
    else:
        spec = corpus.active().get(args.held)
        if spec is None:
            known = sorted(corpus.active())
            raise ConfigError(f"--held {args.held!r}: not a data set in use ({known})")
        sets, part = [load_set(args.held, spec, corpus, locate)], "leave_one_out"
    natural = read_niqe_model(args.niqe_model) if args.niqe_model else None
    outdir = Path(args.outdir)
    result = run(corpus, restore, sets, args.model, args.seed, part, natural, outdir / "figures")
    write_json(outdir / "scores.json", result)
    config = {"model": str(args.model), "held": args.held, "seed": args.seed}
    config |= {"corpus": corpus.to_dict(), "restore": restore.to_dict()}
    write_run_config(outdir, config, name="restore_generalist_config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
