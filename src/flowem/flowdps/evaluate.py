"""``flowem evaluate-flowdps``: compare FlowDPS with the baselines on particles with ground truth.

The measured intensity is blind to a constant phase, so each reconstruction first gets the
constant offset that best matches the truth (least squares). Then per particle: PSNR and SSIM
(``data_range`` = the truth's range), FRC resolution at 0.5 and 1/7 (A), Poisson deviance per
pixel; per method the mean with a Student-t 95% interval over particles. FlowDPS against each
baseline, paired by particle, for every metric: the mean difference (FlowDPS - baseline) with a
Student-t 95% interval of the per-particle differences, and the win rate with its Wilson 95%
interval (``wilson_low`` > 0.5: FlowDPS wins on most particles at 95% confidence). FRC
resolutions twice: the mean of per-particle resolutions (t interval; a particle resolved up to
Nyquist counts as Nyquist, a bound), and the resolution of the mean FRC curve with a
percentile bootstrap interval over particles. Also the calibration of the posterior std
(correlation with the absolute error; coverage of pixel-wise Student-t predictive intervals
at nominal levels 0.5-0.99, ``calibration.coverage_90``, and the reliability figure) and each
method's forward-model evaluations per particle with the equal-budget table. Writes
``metrics.json``, ``particles.csv``, ``comparison.csv`` (the paired table), ``budget.csv``
(the equal-budget table) and figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from flowem.command import command_parser, guarded, parse
from flowem.errors import InputFileError
from flowem.flowdps.figures import (
    plot_comparison,
    plot_frc_curves,
    plot_reconstructions,
    plot_reliability,
)
from flowem.flowdps.particles import load_particles
from flowem.io import read_json, read_mrc, read_table, write_json, write_table
from flowem.metrics import (
    bootstrap_interval,
    curve_resolution,
    decorrelation_resolution,
    frc,
    frc_resolution,
    paired_difference,
    psnr,
    ssim,
    summarize,
    win_rate,
)
from flowem.runtime import rng, setup_logging, write_run_config

#: the ``evaluation`` section's keys this command reads, and the prior's molecule (the rule's)
DEFAULTS = {"figure_particles": 6, "bootstrap_resamples": 1000, "prior_molecule": None}
METRICS = ("psnr", "ssim", "frc05_A", "frc0143_A", "deviance")
HIGHER_IS_BETTER = {
    "psnr": True,
    "ssim": True,
    "frc05_A": False,
    "frc0143_A": False,
    "deviance": False,
}
#: nominal levels of the pixel-wise posterior intervals whose coverage is reported
COVERAGE_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
#: FRC thresholds of the mean-curve resolutions
FRC_THRESHOLDS = {"frc05_A": 0.5, "frc0143_A": 1 / 7}


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
    methods = {}
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
    paired = paired_comparison(per_particle, reference) if reference in methods else {}
    wins = {
        name: {
            "k": rows["psnr"]["wins"],
            "n": rows["psnr"]["n"],
            "rate": rows["psnr"]["win_rate"],
            "ci_low": rows["psnr"]["wilson_low"],
            "ci_high": rows["psnr"]["wilson_high"],
        }
        for name, rows in paired.items()
    }
    wilson_low = {
        name: {metric: row["wilson_low"] for metric, row in rows.items()}
        for name, rows in paired.items()
    }
    return {
        "methods": methods,
        "win_rate": wins,
        "paired": paired,
        "win_rate_wilson_low": wilson_low,
    }


def paired_comparison(per_particle: pd.DataFrame, reference: str = "flowdps") -> dict:
    """``{baseline: {metric: row}}``: ``reference`` against each other method, per particle.

    The mean difference (``reference - baseline``, so positive PSNR and negative FRC-in-A
    favour the reference) and its Student-t 95% interval use the particles where both
    succeeded; the win rate and its Wilson 95% interval use every particle, a failed particle
    losing against any result (both failed: no win).
    """
    ref = per_particle[per_particle.method == reference].set_index("index")
    out = {}
    for name in per_particle.method.unique():
        if name == reference:
            continue
        other = per_particle[per_particle.method == name].set_index("index").reindex(ref.index)
        out[name] = {}
        for metric in METRICS:
            higher = HIGHER_IS_BETTER[metric]
            a = ref[metric].where(ref.status == "ok")
            b = other[metric].where(other.status == "ok")
            worst = -np.inf if higher else np.inf
            wins = win_rate(a.fillna(worst), b.fillna(worst), higher_is_better=higher)
            both = (a.notna() & b.notna()).to_numpy()
            if both.sum() >= 2:
                diff = paired_difference(a[both], b[both])
                mean, low, high = diff.mean, diff.ci_low, diff.ci_high
            else:
                mean = low = high = float("nan")
            out[name][metric] = {
                "mean_difference": mean,
                "ci_low": low,
                "ci_high": high,
                "n_paired": int(both.sum()),
                "wins": wins.wins,
                "n": wins.n,
                "win_rate": wins.rate,
                "wilson_low": wins.ci_low,
                "wilson_high": wins.ci_high,
            }
    return out


def comparison_table(paired: dict) -> pd.DataFrame:
    """The paired comparison as one row per (baseline, metric)."""
    rows = [
        {"baseline": name, "metric": metric, **row}
        for name, metrics in paired.items()
        for metric, row in metrics.items()
    ]
    return pd.DataFrame(rows)


def mean_curve_resolutions(
    curves: list, pixel_size_a: float, generator: np.random.Generator, resamples: int
) -> dict[str, float]:
    """Resolutions (A) of the mean of per-particle FRC ``curves`` (``(frequencies, curve)``
    pairs), each with a percentile bootstrap 95% interval over particles."""
    frequencies = curves[0][0]
    stack = np.stack([curve for _, curve in curves])
    out: dict[str, float] = {"n": len(stack)}
    for key, threshold in FRC_THRESHOLDS.items():

        def resolution(index: np.ndarray, threshold: float = threshold) -> float:
            mean = np.nanmean(stack[index], axis=0)
            return curve_resolution(frequencies, mean, pixel_size_a, threshold)

        out[key] = resolution(np.arange(len(stack)))
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = bootstrap_interval(
            resolution, len(stack), generator, resamples
        )
    return out


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


def predictive_half_width(std: np.ndarray, samples: int, level: float) -> np.ndarray:
    """Half-width of the ``level`` Student-t predictive interval from ``samples`` draws.

    With ``n`` draws of mean ``m`` and (unbiased) std ``s`` from a Gaussian, a new draw ``z``
    from the same Gaussian satisfies ``(z - m) / (s sqrt(1 + 1/n)) ~ t_{n-1}``, so
    ``m +- t_{(1+level)/2, n-1} s sqrt(1 + 1/n)`` covers it with probability ``level`` exactly
    (the plain ``m +- z s`` under-covers badly for few samples: 0.73 for n = 4 at 90%).
    """
    if samples < 2:
        raise ValueError(f"a predictive interval needs at least 2 samples, got {samples}")
    quantile = float(student_t.ppf(0.5 + level / 2, samples - 1))
    return quantile * std * np.sqrt(1.0 + 1.0 / samples)


def coverage(
    truth: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    samples: int,
    levels=COVERAGE_LEVELS,
) -> dict:
    """Empirical coverage of the pixel-wise predictive intervals at each nominal ``level``.

    ``mean`` (N, H, W) gets the same constant offset as for scoring (the interval moves with
    it); coverage is the fraction of all pixels whose truth lies inside, with a Student-t 95%
    interval over particles (each particle a cluster of correlated pixels: the mean of equal-
    sized per-particle fractions is the pooled fraction).
    """
    error = np.abs(remove_offset(mean, truth) - truth)
    rows = []
    for level in levels:
        inside = error <= predictive_half_width(std, samples, level)
        spread = summarize(inside.mean(axis=(1, 2)))
        rows.append(
            {
                "nominal": float(level),
                "empirical": spread.mean,
                "ci_low": spread.ci_low,
                "ci_high": spread.ci_high,
            }
        )
    return {"samples": int(samples), "levels": rows}


def calibration(
    truth: np.ndarray, mean: np.ndarray, std: np.ndarray, samples: int | None = None
) -> dict:
    """Pearson correlation of the posterior std with the absolute error (pixels, particles)
    and, knowing the number of ``samples`` behind ``std``, the coverage of the pixel-wise
    predictive intervals (:func:`coverage`; ``coverage_90`` the 90% one)."""
    error = np.abs(remove_offset(mean, truth) - truth)
    pixel = float(np.corrcoef(std.ravel(), error.ravel())[0, 1])
    per_particle = float(np.corrcoef(std.mean(axis=(1, 2)), error.mean(axis=(1, 2)))[0, 1])
    out: dict[str, Any] = {"pixel_correlation": pixel, "particle_correlation": per_particle}
    if samples is not None and samples >= 2:
        cover = coverage(truth, mean, std, samples)
        at90 = next(r for r in cover["levels"] if abs(r["nominal"] - 0.9) < 1e-9)
        out["coverage_90"] = at90["empirical"]
        out["coverage_90_ci"] = [at90["ci_low"], at90["ci_high"]]
        out["coverage"] = cover
        out["interval"] = (
            "pixel-wise Student-t predictive interval mean +- t_{(1+p)/2, S-1} std sqrt(1 + 1/S)"
            " over S samples, after offset removal; coverage CI: Student-t 95% over particles"
        )
    return out


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


def add_budget(metrics: dict, results: dict, tuned: dict[str, dict]) -> None:
    """Each method's forward-model evaluations per particle (mean of its table's
    ``forward_evaluations``, :mod:`flowem.flowdps.budget`) into ``metrics["methods"]``, and the
    equal-budget table (method, evaluations, tuned hyperparameters, PSNR with its interval)
    as ``metrics["equal_budget"]``."""
    rows = []
    for name, (_, table) in results.items():
        entry = metrics["methods"].get(name)
        if entry is None:
            continue
        evaluations = (
            float(table.forward_evaluations.mean()) if "forward_evaluations" in table else None
        )
        entry["forward_evaluations"] = evaluations
        rows.append(
            {
                "method": name,
                "forward_evaluations": evaluations,
                "tuned": tuned.get(name, {}),
                "psnr": entry["psnr"],
                "psnr_ci_low": entry["ci"]["psnr"][0],
                "psnr_ci_high": entry["ci"]["psnr"][1],
                "n": entry["n"],
            }
        )
    metrics["equal_budget"] = rows


def budget_table(rows: list[dict]) -> pd.DataFrame:
    """The equal-budget rows as a table (tuned hyperparameters as ``key=value`` text)."""
    return pd.DataFrame(
        [
            {
                **row,
                "tuned": " ".join(f"{k}={v}" for k, v in sorted(row["tuned"].items())) or "-",
            }
            for row in rows
        ]
    )


def run(
    params: dict[str, Any],
    counts: str,
    table: str,
    truth: str | None,
    methods: list[str],
    seed: int = 0,
    tuned: dict[str, dict] | None = None,
) -> Evaluation:
    """Compare the ``methods`` (``name=result folder``) on the particles ``counts``/``table``,
    against ``truth`` where known, else without a reference (``seed``: the bootstrap's;
    ``tuned``: each method's tuned hyperparameters, for the equal-budget table)."""
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
        flow_rows = results["flowdps"][1]
        fine = (flow_rows.status == "ok").to_numpy()
        samples = int(flow_rows.n_samples.iloc[0]) if "n_samples" in flow_rows else None
        metrics["calibration"] = calibration(
            particles.truth[fine], results["flowdps"][0][fine], std[fine], samples
        )
    add_budget(metrics, results, tuned or {})
    aligned = {n: remove_offset(p, particles.truth) for n, (p, _) in results.items()}
    pixel = particles.pixel_size_a
    ok = {n: (rows.status == "ok").to_numpy() for n, (_, rows) in results.items()}
    curves = {
        n: [frc(particles.truth[i], a[i], pixel) for i in range(len(a)) if ok[n][i]]
        for n, a in aligned.items()
    }
    curves = {n: c for n, c in curves.items() if c}
    resamples = int(params.get("bootstrap_resamples", DEFAULTS["bootstrap_resamples"]))
    metrics["frc_mean_curve"] = {
        n: mean_curve_resolutions(c, pixel, rng(seed), resamples) for n, c in curves.items()
    }
    metrics["intervals"] = {
        "methods": "Student-t 95% of the mean over particles",
        "paired": "Student-t 95% of the mean per-particle difference (FlowDPS - baseline)",
        "win_rate": "Wilson 95% over particles (ties and failures are not wins)",
        "frc_mean_curve": f"percentile bootstrap 95% over particles ({resamples} resamples)",
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
    if result.curves:
        plot_frc_curves(outdir / "frc.png", result.curves)
    if result.metrics.get("paired"):
        write_table(outdir / "comparison.csv", comparison_table(result.metrics["paired"]))
        plot_comparison(outdir / "comparison.png", result.metrics["paired"])
    if result.metrics.get("equal_budget"):
        write_table(outdir / "budget.csv", budget_table(result.metrics["equal_budget"]))
    cover = result.metrics.get("calibration", {}).get("coverage")
    if cover:
        plot_reliability(outdir / "reliability.png", cover)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem evaluate-flowdps", __doc__, outdir="output folder")
    parser.add_argument("--counts", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--truth", default=None, help="ground-truth phase (N, H, W), if known")
    parser.add_argument("--method", action="append", required=True, help="name=result folder")
    parser.add_argument(
        "--tuning",
        action="append",
        default=[],
        help="name=tuning JSON of tune-retrieval (its choice goes into the equal-budget table)",
    )
    args, params = parse(parser, argv, DEFAULTS)
    log = setup_logging(args.log)
    tuned = {}
    for spec in args.tuning:
        name, _, path = spec.partition("=")
        tuned[name] = read_json(path).get("chosen", {})
    result = run(params, args.counts, args.table, args.truth, args.method, args.seed, tuned)
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
