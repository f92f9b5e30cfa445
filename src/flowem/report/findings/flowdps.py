"""FlowDPS's answers: against every baseline, calibration, dose, mismatch, real particles."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from flowem.report.findings.base import (
    HELD,
    NOT_HELD,
    UNKNOWN,
    Finding,
    Panel,
    bars,
    ci_of,
    evaluations,
    fmt,
    fmt_ci,
    interval,
    missing,
    number,
)

COVERAGE_90_RANGE = (0.85, 0.95)


def flowdps_headline(test: Mapping | None, figures: list[Path] = ()) -> Finding:
    """FlowDPS against every baseline on the matched test particles."""
    key, title = "flowdps", "Does FlowDPS beat every baseline?"
    methods = (test or {}).get("methods")
    paired = (test or {}).get("paired")
    if not isinstance(methods, Mapping) or "flowdps" not in methods or not paired:
        return missing(
            key,
            title,
            "FlowDPS test metrics with paired comparisons",
            "flowdps/test/metrics.json: methods, paired",
        )
    flow = methods["flowdps"]
    frc_curve = test.get("frc_mean_curve") or {}
    rows = []
    for name, values in methods.items():
        pair = (paired.get(name) or {}).get("psnr", {})
        curve = frc_curve.get(name) or {}
        row = {
            "method": name,
            "PSNR (dB)": fmt_ci(values.get("psnr"), ci_of(values, "psnr")),
            "SSIM": fmt_ci(values.get("ssim"), ci_of(values, "ssim"), 3),
            "FRC-0.5 (Å)": fmt_ci(values.get("frc05_A"), ci_of(values, "frc05_A"), 1),
            "FRC-0.5, mean curve (Å)": fmt_ci(
                curve.get("frc05_A"),
                (number(curve.get("frc05_A_ci_low")), number(curve.get("frc05_A_ci_high"))),
                1,
            ),
            "FlowDPS − this (dB)": "–"
            if name == "flowdps"
            else fmt_ci(pair.get("mean_difference"), interval(pair)),
            "FlowDPS wins": "–"
            if name == "flowdps"
            else (
                f"{pair.get('wins', '–')}/{pair.get('n', '–')} "
                f"[{fmt(pair.get('wilson_low'))}, {fmt(pair.get('wilson_high'))}]"
            ),
        }
        if not math.isnan(evaluations(values)):
            row["evaluations"] = f"{evaluations(values):.0f}"
        rows.append(row)
    diffs = {
        name: (number(p.get("psnr", {}).get("mean_difference")), interval(p.get("psnr", {})))
        for name, p in paired.items()
    }
    above = [n for n, (_, (lo, _)) in diffs.items() if lo > 0]
    hardest = min(diffs, key=lambda n: diffs[n][0] if not math.isnan(diffs[n][0]) else -1e9)
    d, (lo, hi) = diffs[hardest]
    pair = paired[hardest].get("psnr", {})
    verdict = HELD if len(above) == len(diffs) else NOT_HELD
    sentence = (
        f"FlowDPS reaches {fmt(flow.get('psnr'))} dB PSNR on {flow.get('n', '?')} test particles; "
        f"against the strongest baseline, {hardest} ({fmt(methods.get(hardest, {}).get('psnr'))}"
        f" dB), it gains {fmt(d)} dB (paired 95% interval {fmt(lo)} to {fmt(hi)}) and wins on "
        f"{pair.get('wins', '?')} of {pair.get('n', '?')} particles; the paired interval lies "
        f"above 0 against {len(above)} of {len(diffs)} baselines."
    )
    panels = [
        bars("PSNR", "PSNR (dB)", methods, "psnr", "flowdps"),
        bars("SSIM", "SSIM", methods, "ssim", "flowdps"),
        bars(
            "FRC-0.5 resolution (lower is better)", "resolution (Å)", methods, "frc05_A", "flowdps"
        ),
    ]
    return Finding(
        key,
        title,
        sentence,
        verdict,
        "paired 95% interval of the per-particle PSNR difference above 0 against every baseline",
        pd.DataFrame(rows),
        panels,
        list(figures),
        note="cells: mean [Student-t 95% interval over particles]; mean curve: FRC of the mean "
        "curve [percentile bootstrap 95%]; FlowDPS − this: paired PSNR difference; wins: "
        "particles where FlowDPS has the higher PSNR [Wilson 95%]; evaluations: forward-model "
        "evaluations per particle",
    )


def flowdps_calibration(test: Mapping | None, figures: list[Path] = ()) -> Finding:
    """Coverage of the pixel-wise 90% posterior intervals."""
    key, title = "calibration", "Are FlowDPS's posterior intervals calibrated?"
    cal = (test or {}).get("calibration") or {}
    if "coverage_90" not in cal:
        return missing(
            key,
            title,
            "the coverage of FlowDPS's posterior intervals",
            "flowdps/test/metrics.json: calibration.coverage_90",
        )
    c90 = number(cal["coverage_90"])
    lo, hi = interval(cal.get("coverage_90_ci"))
    low, high = COVERAGE_90_RANGE
    verdict = HELD if low <= c90 <= high else NOT_HELD
    sentence = (
        f"The pixel-wise 90% posterior intervals cover {100 * c90:.1f}% of the true pixels "
        f"(95% interval {100 * lo:.1f}% to {100 * hi:.1f}%); calibrated intervals would cover "
        f"{100 * low:.0f}-{100 * high:.0f}%. The posterior std correlates with the absolute error"
        f" at r = {fmt(cal.get('pixel_correlation'))} per pixel."
    )
    levels = ((cal.get("coverage") or {}).get("levels")) or []
    table = pd.DataFrame(levels) if levels else None
    panels = []
    if levels:
        panels.append(
            Panel(
                "reliability: empirical against nominal coverage",
                "empirical coverage",
                [number(r.get("nominal")) for r in levels],
                [number(r.get("empirical")) for r in levels],
                [number(r.get("ci_low")) for r in levels],
                [number(r.get("ci_high")) for r in levels],
                kind="line",
                xlabel="nominal coverage",
                diagonal=True,
            )
        )
    criterion = f"coverage_90 in [{low}, {high}]"
    return Finding(key, title, sentence, verdict, criterion, table, panels, list(figures))


def flowdps_dose(dose: Mapping | None, figures: list[Path] = ()) -> Finding:
    """FlowDPS and the baselines against the electron dose."""
    key, title = "dose", "Does FlowDPS lead at every dose?"
    doses = (dose or {}).get("doses")
    methods = (dose or {}).get("methods") or {}
    if not doses or "flowdps" not in methods or "psnr" not in methods["flowdps"]:
        return missing(key, title, "the dose curve", "flowdps/dose/metrics.json: doses, methods")
    psnr = {m: [number(v) for v in values.get("psnr", [])] for m, values in methods.items()}
    lead = [
        i
        for i in range(len(doses))
        if all(psnr["flowdps"][i] > psnr[m][i] for m in psnr if m != "flowdps")
    ]
    best_other = max((m for m in psnr if m != "flowdps"), key=lambda m: psnr[m][0], default=None)
    verdict = HELD if len(lead) == len(doses) else NOT_HELD
    sentence = (
        f"FlowDPS has the highest mean PSNR at {len(lead)} of {len(doses)} doses "
        f"({fmt(min(doses), 0)} to {fmt(max(doses), 0)} e⁻/Å²); at the lowest dose it reaches "
        f"{fmt(psnr['flowdps'][0])} dB"
        + (f" against {fmt(psnr[best_other][0])} dB for {best_other}." if best_other else ".")
    )
    table = pd.DataFrame({"dose (e⁻/Å²)": doses, **{f"{m} PSNR (dB)": v for m, v in psnr.items()}})
    criterion = "FlowDPS's mean PSNR above every baseline's at every dose"
    return Finding(key, title, sentence, verdict, criterion, table, [], list(figures))


def flowdps_mismatch(
    test: Mapping | None, mismatch: Mapping | None, figures: list[Path] = ()
) -> Finding:
    """FlowDPS on particles of a structure the prior never saw, against the matched set."""
    key, title = "mismatch", "Does FlowDPS still help when the prior is mismatched?"
    m_methods = (mismatch or {}).get("methods")
    t_methods = (test or {}).get("methods") or {}
    paired = (mismatch or {}).get("paired") or {}
    if not isinstance(m_methods, Mapping) or "flowdps" not in m_methods or not paired:
        return missing(
            key,
            title,
            "FlowDPS on mismatched particles",
            "flowdps/mismatch/metrics.json: methods, paired",
        )
    rows = [
        {
            "method": name,
            "matched PSNR (dB)": fmt_ci(
                t_methods.get(name, {}).get("psnr"), ci_of(t_methods.get(name, {}), "psnr")
            ),
            "mismatched PSNR (dB)": fmt_ci(values.get("psnr"), ci_of(values, "psnr")),
            "change (dB)": fmt(
                number(values.get("psnr")) - number(t_methods.get(name, {}).get("psnr"))
            ),
        }
        for name, values in m_methods.items()
    ]
    above = [n for n, p in paired.items() if interval(p.get("psnr", {}))[0] > 0]
    flow_m, flow_t = (
        number(m_methods["flowdps"].get("psnr")),
        number(t_methods.get("flowdps", {}).get("psnr")),
    )
    verdict = HELD if len(above) == len(paired) else NOT_HELD
    sentence = (
        f"On particles simulated from a structure the prior never saw, FlowDPS reaches "
        f"{fmt(flow_m)} dB PSNR (matched particles: {fmt(flow_t)} dB, a change of "
        f"{fmt(flow_m - flow_t)} dB); its paired interval stays above 0 against {len(above)} of "
        f"{len(paired)} baselines."
    )
    panels = [bars("mismatched particles: PSNR", "PSNR (dB)", m_methods, "psnr", "flowdps")]
    if "flowdps" in t_methods:
        panels.insert(0, bars("matched particles: PSNR", "PSNR (dB)", t_methods, "psnr", "flowdps"))
    criterion = "paired 95% PSNR interval above 0 against every baseline on mismatched particles"
    return Finding(
        key, title, sentence, verdict, criterion, pd.DataFrame(rows), panels, list(figures)
    )


def real_particles(real: Mapping | None, name: str = "", figures: list[Path] = ()) -> Finding:
    """FlowDPS and the baselines on experimental particles (no ground truth)."""
    key, title = "real", "What does FlowDPS do on real particles?"
    methods = (real or {}).get("methods")
    if not isinstance(methods, Mapping) or "deviance" not in methods.get("flowdps", {}):
        return missing(
            key,
            title,
            "retrieval of experimental particles",
            "flowdps/<real set>/metrics.json without ground truth",
        )
    rows = [
        {
            "method": m,
            "deviance per pixel": number(v.get("deviance")),
            "decorrelation resolution (Å)": number(v.get("decorrelation_A")),
            "particles": v.get("n"),
            "failed": v.get("failed"),
        }
        for m, v in methods.items()
    ]
    others = [r for r in rows if r["method"] != "flowdps"]
    flow = rows[[r["method"] for r in rows].index("flowdps")]
    best = min(others, key=lambda r: r["deviance per pixel"], default=None)
    sentence = (
        f"On {real.get('n_particles', '?')} experimental particles{f' ({name})' if name else ''}"
        f" without ground truth, FlowDPS fits the counts with a deviance of "
        f"{fmt(flow['deviance per pixel'], 3)} per pixel"
        + (f" against {fmt(best['deviance per pixel'], 3)} for {best['method']}" if best else "")
        + f", at a decorrelation resolution of {fmt(flow['decorrelation resolution (Å)'], 1)} Å."
        + (f" {str(real['note'])[:1].upper()}{str(real['note'])[1:]}." if real.get("note") else "")
    )
    panels = [
        Panel(
            "decorrelation resolution (lower is better)",
            "resolution (Å)",
            [r["method"] for r in rows],
            [r["decorrelation resolution (Å)"] for r in rows],
            highlight="flowdps",
        )
    ]
    return Finding(
        key,
        title,
        sentence,
        UNKNOWN,
        "no ground truth: shown, not judged",
        pd.DataFrame(rows),
        panels,
        list(figures),
    )
