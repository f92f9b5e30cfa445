"""``flowem evaluate-flowdps``: compare FlowDPS with the baselines on particles with ground truth.

The measured intensity is blind to a constant phase, so each reconstruction first gets the
constant offset that best matches the truth (least squares). Then per particle: PSNR and SSIM
(``data_range`` = the truth's range), FRC resolution at 0.5 and 1/7 (A), Poisson deviance per
pixel; per method the mean with a 95% interval; the per-particle PSNR win rate of FlowDPS
against each baseline with a Wilson 95% interval; and the calibration of the posterior std
(correlation with the absolute error). Writes ``metrics.json``, ``particles.csv`` and figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flowem.command import command_parser, guarded, parse
from flowem.errors import InputFileError
from flowem.flowdps.figures import plot_frc_curves, plot_reconstructions
from flowem.flowdps.particles import load_particles
from flowem.io import read_mrc, read_table, write_json, write_table
from flowem.metrics import (
    decorrelation_resolution,
    frc,
    frc_resolution,
    psnr,
    ssim,
    summarize,
    win_rate,
)
from flowem.runtime import setup_logging, write_run_config

#: the ``evaluation`` section's keys this command reads, and the prior's molecule (the rule's)
DEFAULTS = {"figure_particles": 6, "prior_molecule": None}
METRICS = ("psnr", "ssim", "frc05_A", "frc0143_A", "deviance")
HIGHER_IS_BETTER = {
    "psnr": True,
    "ssim": True,
    "frc05_A": False,
    "frc0143_A": False,
    "deviance": False,
}


def remove_offset(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``estimate + c`` with the constant ``c`` that minimises the squared error to ``truth``."""
    return estimate + (truth - estimate).mean(axis=(-2, -1), keepdims=True)


def particle_metrics(truth: np.ndarray, estimate: np.ndarray, pixel_size_a: float) -> dict:
    data_range = float(truth.max() - truth.min())
    return {
        "psnr": psnr(truth, estimate, data_range),
        "ssim": ssim(truth, estimate, data_range),
        "frc05_A": frc_resolution(truth, estimate, pixel_size_a, 0.5),
        "frc0143_A": frc_resolution(truth, estimate, pixel_size_a, 1 / 7),
    }


def read_method(spec: str) -> tuple[str, np.ndarray, pd.DataFrame]:
    """``name=folder`` -> (name, reconstructions, per-particle table)."""
    name, _, folder = spec.partition("=")
    folder = Path(folder)
    image = folder / ("mean.mrcs" if (folder / "mean.mrcs").exists() else "phase.mrcs")
    phase, _ = read_mrc(image)
    table = read_table(folder / "particles.csv")
    if "deviance" not in table:
        table = table.assign(deviance=table["deviance_mean"])
    return name, phase, table


def evaluate(truth, methods, pixel_size_a) -> pd.DataFrame:
    rows = []
    for name, (phase, table) in methods.items():
        if phase.shape != truth.shape:
            raise InputFileError(name, f"{phase.shape} reconstructions for {truth.shape} particles")
        aligned = remove_offset(phase, truth)
        for i in range(len(truth)):
            ok = str(table.status.iloc[i]) == "ok"
            values = (
                particle_metrics(truth[i], aligned[i], pixel_size_a)
                if ok
                else {k: np.nan for k in METRICS[:4]}
            )
            rows.append(
                {
                    "method": name,
                    "index": i,
                    **values,
                    "deviance": float(table.deviance.iloc[i]),
                    "status": table.status.iloc[i],
                }
            )
    return pd.DataFrame(rows)


def summarise(per_particle: pd.DataFrame, reference: str = "flowdps") -> dict:
    methods, wins = {}, {}
    for name, group in per_particle.groupby("method", sort=False):
        ok = group[group.status == "ok"]
        if len(ok):
            stats = {m: summarize(ok[m].to_numpy()) for m in METRICS}
            methods[name] = {m: s.mean for m, s in stats.items()}
            methods[name]["ci"] = {m: [s.ci_low, s.ci_high] for m, s in stats.items()}
        else:  # every particle failed (e.g. a diverging ablation setting): say so, no numbers
            methods[name] = {m: float("nan") for m in METRICS}
            methods[name]["ci"] = {m: [float("nan")] * 2 for m in METRICS}
        methods[name]["n"] = len(ok)
        methods[name]["failed"] = int(len(group) - len(ok))
    if reference in methods:
        ref = per_particle[per_particle.method == reference].set_index("index")
        for name in methods:
            if name == reference:
                continue
            other = per_particle[per_particle.method == name].set_index("index")
            # a failed particle (no PSNR) loses against any result; both failed is no win
            result = win_rate(
                ref.psnr.fillna(-np.inf), other.psnr.reindex(ref.index).fillna(-np.inf)
            )
            wins[name] = {
                "k": result.wins,
                "n": result.n,
                "rate": result.rate,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
            }
    return {"methods": methods, "win_rate": wins}


def no_reference(methods: dict, pixel_size_a: float) -> dict:
    """Per method without ground truth: Poisson deviance and decorrelation resolution (A).

    NIQE needs 96 x 96 blocks and particle images are smaller, so it is not computed here.
    """
    out = {}
    for name, (phase, table) in methods.items():
        ok = (table.status == "ok").to_numpy()
        decorrelation = [
            decorrelation_resolution(phase[i], pixel_size_a) for i in range(len(phase)) if ok[i]
        ]
        out[name] = {
            "deviance": float(np.nanmean(table.deviance[ok])) if ok.any() else float("nan"),
            "decorrelation_A": float(np.nanmean(decorrelation)) if decorrelation else float("nan"),
            "n": int(ok.sum()),
            "failed": int((~ok).sum()),
        }
    return {"methods": out}


def calibration(truth: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict:
    """Pearson correlation of the posterior std with the absolute error (pixels, particles)."""
    error = np.abs(remove_offset(mean, truth) - truth)
    pixel = float(np.corrcoef(std.ravel(), error.ravel())[0, 1])
    per_particle = float(np.corrcoef(std.mean(axis=(1, 2)), error.mean(axis=(1, 2)))[0, 1])
    return {"pixel_correlation": pixel, "particle_correlation": per_particle}


@dataclass
class Evaluation:
    """Metrics, the per-particle table, and what the figures show (reconstructions with the
    offset removed where the truth is known, the FlowDPS std, FRC curves)."""

    metrics: dict[str, Any]
    per_particle: pd.DataFrame
    counts: np.ndarray
    shown: dict[str, np.ndarray]
    truth: np.ndarray | None = None
    std: np.ndarray | None = None
    curves: dict[str, list] | None = None


def run(
    params: dict[str, Any], counts: str, table: str, truth: str | None, methods: list[str]
) -> Evaluation:
    """Compare the ``methods`` (``name=result folder``) on the particles ``counts``/``table``,
    against ``truth`` where known, else without a reference."""
    particles = load_particles(counts, table, truth)
    results = {name: (phase, rows) for name, phase, rows in map(read_method, methods)}
    if particles.truth is None:
        metrics = no_reference(results, particles.pixel_size_a)
        rows = particles.table
        source = str(rows["source"].iloc[0]) if "source" in rows else "unknown source"
        molecule = params.get("prior_molecule")
        metrics["reference"] = "none (experimental particles)"
        metrics["note"] = f"prior trained on {molecule} phase maps; particles from {source}" + (
            ""
            if molecule and molecule.lower() in source.lower()
            else ": a different molecule, so the prior is out of its domain"
        )
        metrics |= {"pixel_size_a": particles.pixel_size_a, "n_particles": len(particles)}
        per_particle = pd.concat(
            [t.assign(method=n) for n, (_, t) in results.items()], ignore_index=True
        )
        shown = {n: p for n, (p, _) in results.items()}
        return Evaluation(metrics, per_particle, particles.counts, shown)
    per_particle = evaluate(particles.truth, results, particles.pixel_size_a)
    metrics = summarise(per_particle)
    metrics["pixel_size_a"] = particles.pixel_size_a
    metrics["dose_e_per_a2"] = float(particles.table.dose_e_per_a2.iloc[0])
    metrics["n_particles"] = len(particles)
    flow_dir = dict(m.partition("=")[::2] for m in methods).get("flowdps")
    std = None
    if flow_dir and (Path(flow_dir) / "std.mrcs").exists():
        std = read_mrc(Path(flow_dir) / "std.mrcs")[0]
        metrics["calibration"] = calibration(particles.truth, results["flowdps"][0], std)
    aligned = {n: remove_offset(p, particles.truth) for n, (p, _) in results.items()}
    curves = {
        n: [frc(particles.truth[i], a[i], particles.pixel_size_a) for i in range(len(a))]
        for n, a in aligned.items()
    }
    return Evaluation(
        metrics, per_particle, particles.counts, aligned, particles.truth, std, curves
    )


def write(result: Evaluation, outdir: Path, figure_particles: int) -> None:
    write_table(outdir / "particles.csv", result.per_particle)
    write_json(outdir / "metrics.json", result.metrics)
    plot_reconstructions(
        outdir / "reconstructions.png",
        result.counts,
        result.shown,
        result.truth,
        result.std,
        count=figure_particles,
    )
    if result.curves is not None:
        plot_frc_curves(outdir / "frc.png", result.curves)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem evaluate-flowdps", __doc__, outdir="output folder")
    parser.add_argument("--counts", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--truth", default=None, help="ground-truth phase (N, H, W), if known")
    parser.add_argument("--method", action="append", required=True, help="name=result folder")
    args, params = parse(parser, argv, DEFAULTS)
    log = setup_logging(args.log)
    result = run(params, args.counts, args.table, args.truth, args.method)
    outdir = Path(args.outdir)
    write(result, outdir, params.get("figure_particles", DEFAULTS["figure_particles"]))
    write_run_config(
        outdir, {"stage": "evaluate_flowdps", "params": params, "methods": args.method}
    )
    for name, values in result.metrics["methods"].items():
        if result.truth is None:
            log.info(
                "%-10s deviance %.3f  decorrelation %.1f A",
                name,
                values["deviance"],
                values["decorrelation_A"],
            )
        else:
            log.info(
                "%-10s PSNR %.2f dB  SSIM %.3f  FRC0.5 %.1f A",
                name,
                values["psnr"],
                values["ssim"],
                values["frc05_A"],
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
