"""``flowem dose-curve``: joining per-dose evaluations into the metrics-vs-dose table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flowem.cli import main as flowem
from flowem.flowdps.dose import METRICS

METHODS = ("flowdps", "wiener")


def metrics_file(path, dose: float, methods=METHODS):
    """An evaluate-flowdps metrics.json whose values encode the dose and method."""
    body = {
        "methods": {
            m: {
                **{k: dose + i + j / 10 for j, k in enumerate(METRICS)},
                "ci": {k: [dose - 1, dose + 1] for k in METRICS},
                "n": 8,
            }
            for i, m in enumerate(methods)
        },
        "win_rate": {"wiener": {"k": int(dose) % 9, "n": 8, "ci_low": 0.1, "ci_high": 0.9}},
    }
    path.write_text(json.dumps(body))
    return path


def test_doses_sorted_with_every_metric_and_interval(tmp_path):
    sets = []
    for dose in (100.0, 10.0, 20.0):  # given out of order
        sets += ["--set", f"{dose:g}={metrics_file(tmp_path / f'{dose:g}.json', dose)}"]
    out = tmp_path / "curve"
    assert flowem(["dose-curve", *sets, "--outdir", str(out)]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["doses"] == [10.0, 20.0, 100.0]
    assert summary["methods"]["flowdps"]["psnr"] == [10.0, 20.0, 100.0]
    assert summary["methods"]["wiener"]["ssim"] == pytest.approx([11.1, 21.1, 101.1])
    assert [r["k"] for r in summary["win_rate"]["wiener"]] == [1, 2, 1]
    table = pd.read_csv(out / "dose.csv")
    assert len(table) == 3 * len(METHODS) * len(METRICS)
    row = table[(table.method == "wiener") & (table.metric == "deviance")].iloc[-1]
    assert (row.dose_e_per_a2, row["mean"], row.ci_low, row.ci_high, row.n) == (
        100.0,
        pytest.approx(101.4),
        99.0,
        101.0,
        8,
    )
    assert (out / "dose.png").stat().st_size > 10_000
    assert json.loads((out / "config.json").read_text())["config"]["stage"] == "dose_curve"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a metrics.json"),
        ('{"methods": {"flowdps": {"psnr": 1.0}}}', "lacks"),
        ('{"methods": {"wiener": {' + ", ".join(f'"{m}": 1' for m in METRICS) + "}}}", "FlowDPS"),
    ],
)
def test_bad_metrics_file_names_it_and_writes_nothing(tmp_path, capsys, content, message):
    good = metrics_file(tmp_path / "good.json", 10.0)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "curve"
    args = ["dose-curve", "--set", f"10={good}", "--set", f"20={bad}", "--outdir", str(out)]
    assert flowem(args) == 1
    err = capsys.readouterr().err
    assert "bad.json" in err and message in err
    assert not out.exists()


@pytest.mark.parametrize("spec", ["0=x.json", "abc=x.json", "10", "-5=x.json"])
def test_bad_dose_is_a_config_error(tmp_path, capsys, spec):
    assert flowem(["dose-curve", f"--set={spec}", "--outdir", str(tmp_path / "o")]) == 1
    assert "positive dose" in capsys.readouterr().err


def test_same_dose_twice_or_different_methods_rejected(tmp_path, capsys):
    a = metrics_file(tmp_path / "a.json", 10.0)
    b = metrics_file(tmp_path / "b.json", 20.0, methods=("flowdps",))
    out = str(tmp_path / "o")
    assert flowem(["dose-curve", "--set", f"10={a}", "--set", f"10={a}", "--outdir", out]) == 1
    assert "twice" in capsys.readouterr().err
    assert flowem(["dose-curve", "--set", f"10={a}", "--set", f"20={b}", "--outdir", out]) == 1
    assert "expected" in capsys.readouterr().err


def test_failed_particles_lose_and_an_all_failed_method_is_reported():
    """A diverged setting (e.g. an ablation row) must not crash the evaluation: a failed
    particle counts as a loss in the win rate, a method with no result reports n = 0."""
    from flowem.flowdps.evaluate import summarise

    rows = []
    for i in range(4):
        ok = i != 2  # FlowDPS failed on particle 2
        rows.append({"method": "flowdps", "index": i, "status": "ok" if ok else "failed"})
        rows[-1].update({m: (30.0 if ok else np.nan) for m in METRICS})
        rows.append(
            {"method": "wiener", "index": i, "status": "ok", **dict.fromkeys(METRICS, 20.0)}
        )
        rows.append({"method": "broken", "index": i, "status": "failed"})
        rows[-1].update(dict.fromkeys(METRICS, np.nan))
    summary = summarise(pd.DataFrame(rows))
    assert summary["methods"]["flowdps"]["n"] == 3 and summary["methods"]["flowdps"]["failed"] == 1
    assert summary["methods"]["flowdps"]["psnr"] == pytest.approx(30.0)
    broken = summary["methods"]["broken"]
    assert broken["n"] == 0 and broken["failed"] == 4 and np.isnan(broken["psnr"])
    assert (summary["win_rate"]["wiener"]["k"], summary["win_rate"]["wiener"]["n"]) == (3, 4)
    assert (summary["win_rate"]["broken"]["k"], summary["win_rate"]["broken"]["n"]) == (3, 4)
