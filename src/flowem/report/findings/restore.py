"""Restoration's answers: flow samplers against supervised, classical and diffusion DPS.

The flow row of a task is the one the run chose on validation crops (``flow_row``), else the
best flow row on the test crops; rows are ``tasks[task][method]`` of ``restore/metrics.json``.
"""

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
    fmt,
    fmt_ci,
    missing,
    number,
)

FLOW_PREFIX = "flow"

SUPERVISED = "supervised"

DIFFUSION = ("diffusion_dps", "dps", "diffusion")
# restore/metrics.json speed.diffusion_arm when the run had no diffusion prior
FLOW_NETWORK_ARM = "flow_network"

PSNR_MARGIN_SUPERVISED_DB = 0.3

SPEEDUP_TARGET = 10.0

SPEED_PSNR_LOSS_DB = 0.5


def method_kind(name: str) -> str:
    if name.startswith(FLOW_PREFIX):
        return "flow"
    if name == SUPERVISED:
        return "supervised"
    if name in DIFFUSION:
        return "diffusion"
    return "classical"


def restoration(restore: Mapping | None, figures: list[Path] = ()) -> Finding:
    """Each task's flow row against the supervised network and the classical baselines."""
    key, title = "restoration", "Does flow restoration match supervised and beat classical?"
    tasks = (restore or {}).get("tasks")
    if (
        not isinstance(tasks, Mapping)
        or not tasks
        or not all(
            isinstance(m, Mapping) and any(method_kind(n) == "flow" for n in m)
            for m in tasks.values()
        )
    ):
        return missing(
            key,
            title,
            "restoration metrics per task and method",
            "restore/metrics.json: tasks[task][method]",
        )
    rows, panels, failed, untested, margins = [], [], [], [], []
    for task, methods in tasks.items():
        psnr = {n: number(v.get("psnr")) for n, v in methods.items() if isinstance(v, Mapping)}
        flows = {n: p for n, p in psnr.items() if method_kind(n) == "flow"}
        # the run's own choice (best validation PSNR) where it names one: choosing on the
        # test scores here would favour the flow rows
        chosen = (restore.get("flow_row") or {}).get(task)
        best_flow = chosen if chosen in flows else max(flows, key=flows.get)
        classical = {n: p for n, p in psnr.items() if method_kind(n) == "classical"}
        sup = psnr.get(SUPERVISED, math.nan)
        ahead = all(flows[best_flow] > p for p in classical.values())
        near = flows[best_flow] >= sup - PSNR_MARGIN_SUPERVISED_DB
        if not ahead or (not math.isnan(sup) and not near):
            failed.append(task)
        if math.isnan(sup):
            untested.append(task)
        best_classical = max(classical, key=classical.get, default=None)
        margins.append(
            f"{task} {best_flow} {fmt(flows[best_flow])} dB vs supervised {fmt(sup)}"
            + (f", {best_classical} {fmt(classical[best_classical])}" if best_classical else "")
        )
        rows.append(
            {"task": task, "flow row": best_flow}
            | {
                n: fmt_ci(v.get("psnr"), ci_of(v, "psnr"))
                for n, v in methods.items()
                if isinstance(v, Mapping)
            }
        )
        panels.append(bars(task, "PSNR (dB)", methods, "psnr", best_flow))
    if failed:
        verdict = NOT_HELD
    elif untested:
        verdict = UNKNOWN
    else:
        verdict = HELD
    held = len(tasks) - len(failed) - len(untested)
    sentence = (
        "The flow sampler of each task (chosen on validation crops) is within "
        f"{PSNR_MARGIN_SUPERVISED_DB} dB of the supervised network and ahead of every "
        f"classical baseline on {held} of {len(tasks)} tasks"
        + (f"; it falls short on {', '.join(failed)}" if failed else "")
        + (f"; no supervised result for {', '.join(untested)}" if untested else "")
        + " ("
        + "; ".join(margins)
        + ")."
    )
    criterion = (
        f"the task's flow row PSNR >= supervised - {PSNR_MARGIN_SUPERVISED_DB} dB and > every "
        "classical baseline's, every task"
    )
    table = pd.DataFrame(rows)
    return Finding(
        key,
        title,
        sentence,
        verdict,
        criterion,
        table,
        panels,
        list(figures),
        note="cells: mean PSNR (dB) [95% interval where the run gives one]",
    )


def restoration_speed(restore: Mapping | None, figures: list[Path] = ()) -> Finding:
    """Flow sampling against diffusion DPS: seconds and PSNR on the same patches."""
    key, title = "speed", "Is flow restoration faster than diffusion at equal quality?"
    speed = (restore or {}).get("speed") or {}
    needed = ("flow_seconds", "diffusion_seconds", "psnr_flow", "psnr_diffusion")
    if not all(k in speed for k in needed):
        return missing(
            key, title, "the flow vs diffusion speed comparison", "restore/metrics.json: speed"
        )
    fs, ds = number(speed["flow_seconds"]), number(speed["diffusion_seconds"])
    pf, pd_ = number(speed["psnr_flow"]), number(speed["psnr_diffusion"])
    speedup = number(speed.get("speedup", ds / fs))
    held = speedup >= SPEEDUP_TARGET and pf >= pd_ - SPEED_PSNR_LOSS_DB
    verdict = HELD if held else NOT_HELD
    rival = "diffusion DPS"
    sentence = (
        f"Flow restoration takes {fmt(fs, 1)} s against {fmt(ds, 1)} s for diffusion DPS "
        f"({fmt(speedup, 1)}x faster) at {fmt(pf)} dB against {fmt(pd_)} dB PSNR "
        f"({fmt(pf - pd_)} dB)."
    )
    if speed.get("diffusion_arm") == FLOW_NETWORK_ARM:
        # no diffusion prior in this run: DPS through the flow network stands in, which
        # measures the sampler's cost, not a diffusion model's quality
        rival, verdict = "DPS through the flow network", UNKNOWN
        sentence = (
            f"This run has no diffusion prior (restore_rivals target); against DPS through the "
            f"flow network as a stand-in, flow restoration takes {fmt(fs, 1)} s against "
            f"{fmt(ds, 1)} s ({fmt(speedup, 1)}x faster) at {fmt(pf)} dB against {fmt(pd_)} dB "
            f"PSNR ({fmt(pf - pd_)} dB)."
        )
    table = pd.DataFrame({"method": ["flow", rival], "seconds": [fs, ds], "PSNR (dB)": [pf, pd_]})
    panels = [
        Panel("time", "seconds", ["flow", rival], [fs, ds], highlight="flow"),
        Panel("quality", "PSNR (dB)", ["flow", rival], [pf, pd_], highlight="flow"),
    ]
    criterion = f"speedup >= {SPEEDUP_TARGET:g}x and PSNR loss <= {SPEED_PSNR_LOSS_DB} dB"
    return Finding(key, title, sentence, verdict, criterion, table, panels, list(figures))
