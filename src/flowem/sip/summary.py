"""``python -m flowem.sip.summary``: the SIP table in the paper's definitions.

Reads the ``metrics.json`` of each experiment (``results/sip/<experiment>/metrics.json``; the
folder names the experiment) and writes ``summary.csv`` and ``summary.json`` to ``--outdir``:
one row per distance with its initial and final value, the baseline's final value, the noise
floor (mean and std of the distance between two samples of the true law at the same sizes) and
the sample sizes. 1D: W1 of the particles to a large true-law sample, per loss. Nanocluster and
protein: squared unbiased energy distance in parameter space (particles against a fresh
true-law sample) and in image space (simulated images of the particles against the observed).
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


def experiment_of(path: str | Path) -> str:
    """The experiment a metrics file belongs to: its folder's name."""
    name = Path(path).parent.name
    if name not in EXPERIMENTS:
        raise InputFileError(path, f"folder {name!r} is not a SIP experiment {EXPERIMENTS}")
    return name


def run(paths: list[str]) -> list[dict[str, Any]]:
    """The summary rows of the runs whose ``metrics.json`` are ``paths``."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        experiment, metrics = experiment_of(path), read_json(path)
        try:
            rows += rows_1d(metrics) if experiment == "1d" else rows_images(experiment, metrics)
        except (KeyError, TypeError) as exc:
            raise InputFileError(path, f"not a sip-fit metrics file: missing {exc}") from exc
    return rows


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem sip-summary", __doc__, outdir="output folder (results/sip)")
    parser.add_argument("metrics", nargs="+", help="metrics.json of each sip-fit run")
    args, _ = parse(parser, argv)
    log = setup_logging(args.log)
    rows = run(args.metrics)
    outdir = Path(args.outdir)
    table = pd.DataFrame(rows)
    write_table(outdir / "summary.csv", table)
    write_json(outdir / "summary.json", {"definitions": DEFINITIONS, "rows": rows})
    write_run_config(outdir, {"stage": "sip", "metrics": args.metrics})
    log.info("SIP summary:\n%s", table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
