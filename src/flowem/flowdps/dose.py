"""``flowem dose-curve``: FlowDPS and the baselines as a function of the electron dose.

Each dose is a particle set of its own: the test split's phase maps, poses and defoci
simulated again at that dose (rule ``simulate_dose``), then retrieved and evaluated by the same
rules as the test set (``flowdps``, ``baseline``, ``evaluate_flowdps``). Every method keeps
the settings tuned on the validation particles at the default dose; FlowDPS and Poisson+TV
scale their likelihood by the dose, so one step size serves all doses.

This command joins the per-dose ``metrics.json`` files (``--set DOSE=PATH``) into
``dose.csv`` (one row per dose, method and metric: mean and 95% interval), ``metrics.json``
(``{"doses": [...], "methods": {m: {metric: [mean per dose]}}, "win_rate": {b: [...]}}``)
and the metrics-vs-dose figure ``dose.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from flowem.command import command_parser, guarded, parse
from flowem.errors import ConfigError, InputFileError
from flowem.io import write_json, write_table
from flowem.report.figures import save_figure
from flowem.runtime import setup_logging, write_run_config

#: (metric key, axis label) of the panels, in order
PANELS = (
    ("psnr", "PSNR (dB)"),
    ("ssim", "SSIM"),
    ("frc05_A", "FRC-0.5 resolution (A)"),
)
METRICS = ("psnr", "ssim", "frc05_A", "frc0143_A", "deviance")


def parse_set(spec: str) -> tuple[float, Path]:
    """``DOSE=PATH`` -> ``(dose, path)``; the dose must be a positive number."""
    dose, sep, path = spec.partition("=")
    try:
        value = float(dose)
    except ValueError:
        value = float("nan")
    if not sep or not path or not value > 0 or not np.isfinite(value):
        raise ConfigError(f"--set {spec!r}: expected DOSE=PATH with a positive dose (e-/A^2)")
    return value, Path(path)


def read_metrics(path: Path) -> dict:
    """A ``metrics.json`` of ``evaluate-flowdps`` with ground-truth metrics for every method."""
    try:
        data = json.loads(path.read_text())
        methods = data["methods"]
        for name, values in methods.items():
            missing = [m for m in METRICS if m not in values]
            if missing:
                raise KeyError(f"method {name!r} lacks {missing}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputFileError(path, f"not a metrics.json of evaluate-flowdps ({exc})") from exc
    if "flowdps" not in methods:
        raise InputFileError(path, "no FlowDPS results in this metrics.json")
    return data


def run(sets: list[tuple[float, Path]]) -> tuple[pd.DataFrame, dict]:
    """The ``(dose, metrics.json)`` sets as a long table (dose, method, metric, mean, ci_low,
    ci_high, n) and the JSON summary."""
    doses = [dose for dose, _ in sets]
    if len(set(doses)) != len(doses):
        raise ConfigError(f"dose-curve: the same dose is given twice ({sorted(doses)})")
    rows, summary = [], {"doses": sorted(doses), "methods": {}, "win_rate": {}}
    loaded = sorted(((dose, read_metrics(path)) for dose, path in sets), key=lambda s: s[0])
    methods = list(loaded[0][1]["methods"])
    for dose, data in loaded:
        if list(data["methods"]) != methods:
            raise ConfigError(
                f"dose-curve: dose {dose:g} has methods {list(data['methods'])}, expected {methods}"
            )
        for method, values in data["methods"].items():
            for metric in METRICS:
                low, high = values.get("ci", {}).get(metric, (np.nan, np.nan))
                rows.append(
                    {
                        "dose_e_per_a2": dose,
                        "method": method,
                        "metric": metric,
                        "mean": values[metric],
                        "ci_low": low,
                        "ci_high": high,
                        "n": values.get("n", np.nan),
                    }
                )
                summary["methods"].setdefault(method, {}).setdefault(metric, []).append(
                    values[metric]
                )
        for baseline, rate in data.get("win_rate", {}).items():
            summary["win_rate"].setdefault(baseline, []).append(
                {key: rate[key] for key in ("k", "n", "ci_low", "ci_high")}
            )
    return pd.DataFrame(rows), summary


def plot_dose(path: Path, table: pd.DataFrame) -> Path:
    """One panel per metric: mean and 95% interval against the dose (log axis), per method."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.0 * len(PANELS), 3.4))
    for ax, (metric, label) in zip(axes, PANELS, strict=True):
        for method, rows in table[table.metric == metric].groupby("method", sort=False):
            rows = rows.sort_values("dose_e_per_a2")
            dose, mean = rows.dose_e_per_a2.to_numpy(), rows["mean"].to_numpy()
            ax.plot(dose, mean, marker="o", label=method)
            ax.fill_between(dose, rows.ci_low, rows.ci_high, alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel("dose (e-/A^2)")
        ax.set_ylabel(label)
        if metric.startswith("frc"):
            ax.invert_yaxis()  # finer resolution upwards, like the other panels
    axes[0].legend(fontsize=7)
    fig.suptitle("Phase retrieval against dose (mean and 95% interval over test particles)")
    fig.tight_layout()
    return save_figure(fig, path)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem dose-curve", __doc__, outdir="output folder")
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        required=True,
        metavar="DOSE=PATH",
        help="a dose (e-/A^2) and the metrics.json of its particle set; repeat per dose",
    )
    args, params = parse(parser, argv)
    log = setup_logging(args.log)
    sets = [parse_set(spec) for spec in args.sets]
    table, summary = run(sets)
    out = Path(args.outdir)
    write_table(out / "dose.csv", table)
    write_json(out / "metrics.json", summary)
    plot_dose(out / "dose.png", table)
    write_run_config(
        out,
        {
            "stage": "dose_curve",
            "seed": args.seed,
            "params": params,
            "sets": {f"{d:g}": str(p) for d, p in sets},
        },
    )
    flow = summary["methods"]["flowdps"]["psnr"]
    log.info(
        "doses %s: FlowDPS PSNR %s dB",
        summary["doses"],
        ", ".join(f"{v:.2f}" for v in flow),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
