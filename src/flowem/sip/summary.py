"""``python -m flowem.sip.summary``: the SIP table in the paper's definitions.

Reads the ``metrics.json`` of each experiment (``results/sip/<experiment>/metrics.json``; the
folder names the experiment) and writes ``summary.csv`` and ``summary.json`` to ``--outdir``:
one row per distance with its initial and final value, the baseline's final value, the noise
floor (mean and std of the distance between two samples of the true law at the same sizes) and
the sample sizes. 1D: W1 of the particles to a large true-law sample, per loss. Nanocluster and
protein: squared unbiased energy distance in parameter space (particles against a fresh
true-law sample) and in image space (simulated images of the particles against the observed).

``methods.csv`` (and ``summary.json``'s ``methods``): the image experiments' method comparison
(issue 19), one row per method: the main flow, the discrete baseline (``dto``) and each of
``sip.<experiment>.methods``, with the parameter-space distance and its bootstrap interval, the
image-space distance, iterations, seconds and whether the method was given poses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from flowem.command import command_parser, guarded, parse
from flowem.errors import InputFileError
from flowem.io import read_json, write_json, write_table
from flowem.runtime import setup_logging, write_run_config
from flowem.sip.settings import EXPERIMENTS

ENERGY = "squared energy distance (unbiased)"
DEFINITIONS = {
    "W1": "1-Wasserstein distance of the particles to the w1_reference true-law draws",
    ENERGY: "2E|X-Y| - E|X-X'| - E|Y-Y'|, U-statistic (self-pairs left out): 0 on average "
    "for two samples of one law at any sizes",
    "parameter": "particles (n_particles) against a fresh true-law sample (n_reference)",
    "image": "fresh simulated images of the particles (n_particles) against the observed "
    "images (n_reference)",
    "noise_floor_std": "std of the distance between two samples of the true law at the row's "
    "sizes (energy: exact null variance with s2 from law draws; W1: replicates)",
    "reduction_in_floor_std": "(initial - final) / noise_floor_std",
    "final_in_floor_std": "(final - noise_floor_mean) / noise_floor_std: within noise of the "
    "truth when about |value| < 2",
}


def _row(experiment: str, loss: str, space: str, distance: str, **values: Any) -> dict[str, Any]:
    std, mean = values["noise_floor_std"], values["noise_floor_mean"]
    scaled = std is not None and std > 0
    return {
        "experiment": experiment,
        "loss": loss,
        "space": space,
        "distance": distance,
        **values,
        "reduction_in_floor_std": (values["initial"] - values["final"]) / std if scaled else None,
        "final_in_floor_std": (values["final"] - mean) / std if scaled else None,
    }


def rows_1d(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """One W1 row per loss of the 1D run."""
    floor, sizes = metrics["w1_noise_floor"], metrics["distance_sample_sizes"]
    losses = [k for k, v in metrics.items() if isinstance(v, dict) and "w1_initial" in v]
    return [
        _row(
            "1d",
            loss,
            "parameter",
            "W1",
            initial=metrics[loss]["w1_initial"],
            final=metrics[loss]["w1_final"],
            baseline_final=metrics["baseline"]["w1_final"],
            noise_floor_mean=floor["mean"],
            noise_floor_std=floor["std"],
            n_particles=sizes["particles"],
            n_reference=sizes["w1_reference"],
            iterations=metrics[loss]["iterations"],
            seconds=metrics[loss]["seconds"],
        )
        for loss in losses
    ]


def rows_images(experiment: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Parameter- and image-space rows of the nanocluster or protein run."""
    sizes = metrics["distance_sample_sizes"]
    rows = []
    for space in ("param", "image"):
        key, floor = f"{space}_energy_distance", metrics["noise_floor"][f"{space}_energy_distance"]
        rows.append(
            _row(
                experiment,
                metrics["loss"],
                "parameter" if space == "param" else "image",
                ENERGY,
                initial=metrics[f"{key}_initial"],
                final=metrics[f"{key}_final"],
                baseline_final=metrics["baseline"][f"{key}_final"],
                noise_floor_mean=floor["mean"],
                noise_floor_std=floor["std"],
                n_particles=sizes["particles"],
                n_reference=sizes["true_law"],
                iterations=metrics["iterations"],
                seconds=metrics["seconds"],
            )
        )
    return rows


#: columns of the method comparison (``methods.csv``), one row per method and experiment
METHOD_COLUMNS = (
    "experiment", "method", "family", "needs_poses", "param_energy_distance",
    "param_energy_low", "param_energy_high", "image_energy_distance", "n_samples",
    "n_reference", "iterations", "seconds",
)  # fmt: skip
METHOD_DEFINITIONS = {
    "param_energy_distance": f"{ENERGY} of n_samples draws of the method's recovered law "
    "against a fresh true-law sample (n_reference)",
    "param_energy_low/high": "95% percentile bootstrap interval (both sets resampled, pairs of "
    "copies of one point left out)",
    "image_energy_distance": f"{ENERGY} of fresh simulated images of the draws against the "
    "observed images",
    "needs_poses": "the method was given each observed image's true rotation (the VAE, as "
    "CryoDRGN takes poses from a consensus refinement; the others get none)",
    "seconds": "training seconds of the method (its budget: iterations)",
}


def method_rows(experiment: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The method comparison rows of an image run (none for 1D or a run without them)."""
    return [
        {"experiment": experiment, **{k: row.get(k) for k in METHOD_COLUMNS[1:]}}
        for row in metrics.get("methods", [])
    ]


def experiment_of(path: str | Path) -> str:
    """The experiment a metrics file belongs to: its folder's name."""
    name = Path(path).parent.name
    if name not in EXPERIMENTS:
        raise InputFileError(path, f"folder {name!r} is not a SIP experiment {EXPERIMENTS}")
    return name


def run(paths: list[str]) -> list[dict[str, Any]]:
    """The summary rows of the runs whose ``metrics.json`` are ``paths``."""
    return run_all(paths)[0]


def run_all(paths: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The summary rows and the method comparison rows of the runs at ``paths``."""
    rows: list[dict[str, Any]] = []
    methods: list[dict[str, Any]] = []
    for path in paths:
        experiment, metrics = experiment_of(path), read_json(path)
        try:
            rows += rows_1d(metrics) if experiment == "1d" else rows_images(experiment, metrics)
            methods += method_rows(experiment, metrics)
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputFileError(path, f"not a sip-fit metrics file: missing {exc}") from exc
    return rows, methods


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem sip-summary", __doc__, outdir="output folder (results/sip)")
    parser.add_argument("metrics", nargs="+", help="metrics.json of each sip-fit run")
    args, _ = parse(parser, argv)
    log = setup_logging(args.log)
    rows, methods = run_all(args.metrics)
    outdir = Path(args.outdir)
    table = pd.DataFrame(rows)
    write_table(outdir / "summary.csv", table)
    write_table(outdir / "methods.csv", pd.DataFrame(methods, columns=list(METHOD_COLUMNS)))
    definitions = {**DEFINITIONS, "methods": METHOD_DEFINITIONS}
    write_json(
        outdir / "summary.json", {"definitions": definitions, "rows": rows, "methods": methods}
    )
    write_run_config(outdir, {"stage": "sip", "metrics": args.metrics})
    log.info("SIP summary:\n%s", table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
