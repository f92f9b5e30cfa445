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


def a_few(rng) -> np.ndarray:
    return rng.normal(size=12)


def _config(folder: Path, config: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"config": config, "provenance": PROVENANCE}))


def flowdps_metrics(psnr: dict[str, float], diff_low: float = 0.4, coverage_90=0.9) -> dict:
    """A metrics document of ``evaluate-flowdps`` with the given mean PSNR per method (FlowDPS
    first); every paired interval's lower bound is ``diff_low`` + (difference - 1)."""
    flow = psnr["flowdps"]
    methods = {
        name: {
            "psnr": p,
            "ssim": 0.5 + p / 100,
            "frc05_A": 40 - p,
            "frc0143_A": 30 - p,
            "deviance": 1.1,
            "ci": {"psnr": [p - 0.3, p + 0.3], "ssim": [0.49 + p / 100, 0.51 + p / 100]},
            "n": 20,
            "failed": 0,
            "forward_evaluations": 360.0 if name != "ctf" else 1.0,
        }
        for name, p in psnr.items()
    }
    paired = {
        name: {
            "psnr": {
                "mean_difference": flow - p,
                "ci_low": flow - p - 1 + diff_low,
                "ci_high": flow - p + 0.6,
                "n_paired": 20,
                "wins": 15,
                "n": 20,
                "win_rate": 0.75,
                "wilson_low": 0.53,
                "wilson_high": 0.89,
            }
        }
        for name, p in psnr.items()
        if name != "flowdps"
    }
    levels = [0.5, 0.9, 0.95]
    return {
        "methods": methods,
        "paired": paired,
        "win_rate": {
            n: {"k": 15, "n": 20, "rate": 0.75, "ci_low": 0.53, "ci_high": 0.89} for n in paired
        },
        "frc_mean_curve": {
            n: {"frc05_A": 30.0, "frc05_A_ci_low": 28.0, "frc05_A_ci_high": 33.0} for n in psnr
        },
        "calibration": {
            "pixel_correlation": 0.41,
            "coverage_90": coverage_90,
            "coverage_90_ci": [coverage_90 - 0.02, coverage_90 + 0.02],
            "coverage": {
                "samples": 4,
                "levels": [
                    {
                        "nominal": lv,
                        "empirical": lv * coverage_90 / 0.9,
                        "ci_low": lv - 0.05,
                        "ci_high": lv + 0.03,
                    }
                    for lv in levels
                ],
            },
        },
        "n_particles": 20,
        "dose_e_per_a2": 40.0,
    }


def restore_metrics(flow=30.5, supervised=30.6, classical=28.0, speedup=25.0) -> dict:
    """A restoration ``metrics.json`` (tasks[task][method], intervals, speed)."""

    def method(p):
        return {"psnr": p, "ssim": 0.8, "frc_nm": 12.0, "ci": {"psnr": [p - 0.2, p + 0.2]}}

    tasks = {
        task: {
            "flow_dc": method(flow),
            "flow_si": method(flow - 0.5),
            "supervised": method(supervised),
            "diffusion_dps": method(flow - 0.2),
            "nl_means": method(classical),
            "tv": method(classical - 0.4),
        }
        for task in ("denoise", "sr4")
    }
    return {
        "tasks": tasks,
        "speed": {
            "n_patches": 4,
            "flow_seconds": 2.0,
            "diffusion_seconds": 2.0 * speedup,
            "psnr_flow": flow,
            "psnr_diffusion": flow + 0.1,
            "speedup": speedup,
        },
    }


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
        json.dumps(
            {
                "energy_distance_ratio": 1.8,
                "power_spectrum_energy_distance_ratio": 2.4,
                "n_samples": 64,
                "n_heldout": 128,
                "training_step": 10,
                "train_seconds": 12.0,
            }
        )
    )
    save_figure(plot_metric_spread({"samples": a_few(rng)}, "phase", "rad"), prior / "samples.png")
    fig = plot_metric_spread({"generated": rng.normal(size=20)}, "pixel mean", "rad")
    save_figure(fig, prior / "loss_curve.png")

    flowdps = results / "flowdps" / "test"
    _config(flowdps, {"scale": "test"})
    doc = flowdps_metrics({"flowdps": 24.1, "ctf": 19.3, "poisson_tv": 21.0})
    doc["frc_curve"] = list(np.linspace(1, 0, 100))
    doc["units"] = {"ssim": "1"}
    (flowdps / "metrics.json").write_text(json.dumps(doc))
    save_figure(
        plot_metric_spread({"mean": a_few(rng), "std": a_few(rng)}, "phase", "rad"),
        flowdps / "reconstructions.png",
    )
    mismatch = results / "flowdps" / "mismatch"
    mismatch.mkdir(parents=True)
    (mismatch / "metrics.json").write_text(
        json.dumps(flowdps_metrics({"flowdps": 22.0, "ctf": 19.0, "poisson_tv": 20.5}))
    )
    dose = results / "flowdps" / "dose"
    dose.mkdir(parents=True)
    (dose / "metrics.json").write_text(
        json.dumps(
            {
                "doses": [10.0, 40.0],
                "methods": {"flowdps": {"psnr": [20.0, 24.1]}, "ctf": {"psnr": [15.0, 19.3]}},
                "win_rate": {},
            }
        )
    )
    real = results / "flowdps" / "empiar_10076"
    real.mkdir(parents=True)
    (real / "metrics.json").write_text(
        json.dumps(
            {
                "methods": {
                    "flowdps": {"deviance": 1.02, "decorrelation_A": 21.0, "n": 8, "failed": 0},
                    "ctf": {"deviance": 1.31, "decorrelation_A": 26.0, "n": 8, "failed": 0},
                },
                "reference": "none (experimental particles)",
                "note": "prior trained on 3J9I phase maps; particles from EMPIAR-10076",
                "n_particles": 8,
            }
        )
    )
    a = rng.normal(size=(32, 32))
    freq, curve, counts = fourier_correlation(a, a + rng.normal(size=a.shape), 5.24)
    fig = plot_frc_curves(
        {"FlowDPS": (freq, curve)}, unit="Å", counts=counts, thresholds=("0.5", "1/7", "half-bit")
    )
    save_figure(fig, flowdps / "frc.png")

    restore = results / "restore"
    restore.mkdir(parents=True)
    (restore / "metrics.json").write_text(json.dumps(restore_metrics()))
    save_figure(plot_metric_spread({"flow": a_few(rng)}, "grey"), restore / "figures" / "sr4.png")
    save_figure(
        plot_decorrelation(np.linspace(0, 1, 50), np.linspace(0, 0.8, 50), 0.4, 4.0),
        restore / "decorrelation.png",
    )

    sip = results / "sip" / "1d"
    sip.mkdir(parents=True)
    (sip / "metrics.json").write_text(
        json.dumps(
            {"energy": {"w1_initial": 1.2, "w1_final": 0.18, "iterations": 25000, "seconds": 9.5}}
        )
    )
    nano = results / "sip" / "nanocluster"
    nano.mkdir(parents=True)
    (nano / "metrics.json").write_text(
        json.dumps(
            {
                "param_energy_distance_initial": 2.5,
                "param_energy_distance_final": 0.01,
                "image_energy_distance_initial": 40.0,
                "image_energy_distance_final": 0.4,
            }
        )
    )
    save_figure(plot_metric_spread({"a": [1.0, 2.0], "b": [2.0, 3.0]}, "W1"), sip / "w1.png")

    bench = results / "benchmarks"
    (bench / "flowdps" / "test").mkdir(parents=True)
    for shard in (1, 2):
        (bench / "flowdps" / "test" / f"{shard}-of-2.tsv").write_text(
            "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
            f"{60.0 * shard}\t0:01:00\t900.0\t1300.1\t800.0\t810.0\t0.1\t0.2\t95.0\t58\n"
        )
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
