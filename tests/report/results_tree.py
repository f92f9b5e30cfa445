"""A small synthetic results tree, shaped like a run's outputs, for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from flowem.metrics import fourier_correlation
from flowem.report.figures import (
    plot_decorrelation,
    plot_frc_curves,
    plot_metric_spread,
    save_figure,
)

PROVENANCE = {"created_utc": "2025-01-01T00:00:00+00:00", "git_commit": "abc123", "python": "3.12"}


def _config(folder: Path, config: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"config": config, "provenance": PROVENANCE}))


def make_results(root: Path) -> dict[str, Path]:
    """Write ``root/results`` and ``root/resources``; returns the paths the tests look at."""
    results, resources = root / "results", root / "resources"
    rng = np.random.default_rng(0)

    structure = results / "data" / "structure"
    _config(structure, {"scale": "test", "structure": {"pdb_id": "3J9I"}})
    pd.DataFrame(
        {"chain": ["A", "all"], "residues": [10, 10], "atoms": [80, 80], "extent_x_a": [12.5, 12.5]}
    ).to_csv(structure / "summary.csv", index=False)

    prior = results / "prior" / "phase"
    _config(prior, {"scale": "test", "prior": {"steps": 10}})
    (prior / "metrics.json").write_text(
        json.dumps({"energy_distance": 0.125, "mmd": 0.031, "train_seconds": 12.0})
    )
    fig = plot_metric_spread({"generated": rng.normal(size=20)}, "pixel mean", "rad")
    save_figure(fig, prior / "loss_curve.png")

    flowdps = results / "flowdps" / "test"
    _config(flowdps, {"scale": "test"})
    doc = {
        "methods": {
            "flowdps": {"psnr_db": 24.1, "ssim": 0.81, "frc_0.5_a": 11.2},
            "ctf": {"psnr_db": 19.3, "ssim": 0.62, "frc_0.5_a": 17.9},
        },
        "win_rate": [{"baseline": "ctf", "wins": 7, "n": 20, "ci_low": 0.1812, "ci_high": 0.5671}],
        "frc_curve": list(np.linspace(1, 0, 100)),
        "units": {"ssim": "1"},
    }
    (flowdps / "metrics.json").write_text(json.dumps(doc))
    a = rng.normal(size=(32, 32))
    freq, curve, counts = fourier_correlation(a, a + rng.normal(size=a.shape), 5.24)
    fig = plot_frc_curves(
        {"FlowDPS": (freq, curve)}, unit="Å", counts=counts, thresholds=("0.5", "1/7", "half-bit")
    )
    save_figure(fig, flowdps / "frc.png")

    restore = results / "restore"
    restore.mkdir(parents=True)
    (restore / "metrics.json").write_text(json.dumps({"denoise": {"psnr_db": 30.5, "niqe": 4.2}}))
    save_figure(
        plot_decorrelation(np.linspace(0, 1, 50), np.linspace(0, 0.8, 50), 0.4, 4.0),
        restore / "decorrelation.png",
    )

    sip = results / "sip" / "1d"
    sip.mkdir(parents=True)
    (sip / "metrics.json").write_text(json.dumps({"w1_final": 0.18, "iterations": 25000}))
    save_figure(plot_metric_spread({"a": [1.0, 2.0], "b": [2.0, 3.0]}, "W1"), sip / "w1.png")

    bench = results / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "check_structure.tsv").write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "1.50\t0:00:01\t120.5\t300.1\t100.0\t110.0\t0.1\t0.2\t80.0\t1.2\n"
    )
    (results / "logs").mkdir()
    (results / "logs" / "x.log").write_text("not part of the report\n")
    (results / "logs" / "ignored.png").write_bytes(b"not an image")

    (resources / "pdb").mkdir(parents=True)
    (resources / "pdb" / "toy.pdb").write_text("END\n")
    (resources / "pdb" / "3j9i.pdb").write_text("not the registry's file\n")
    return {"results": results, "resources": resources, "page": results / "report" / "index.html"}
