"""What a finding is (:class:`Finding`, :class:`Panel`), its verdicts, and the readers
that take numbers and 95% intervals from metrics documents of any known shape."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

HELD, NOT_HELD, UNKNOWN = "held", "not held", "unknown"


@dataclass
class Panel:
    """One panel of a chart: bars (``kind="bar"``, categorical ``x``) or a curve (``"line"``)
    of ``y`` with optional 95% intervals ``low``/``high``."""

    title: str
    ylabel: str
    x: list
    y: list[float]
    low: list[float] | None = None
    high: list[float] | None = None
    kind: str = "bar"
    xlabel: str = ""
    highlight: str | None = None
    reference: float | None = None  # a horizontal target line
    diagonal: bool = False  # the y = x line of a reliability chart


@dataclass
class Finding:
    key: str
    title: str
    sentence: str
    verdict: str = UNKNOWN
    criterion: str = ""
    table: pd.DataFrame | None = None
    panels: list[Panel] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    note: str = ""


def number(value: Any) -> float:
    """``value`` as a float (NaN when absent or not a number)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def interval(value: Any) -> tuple[float, float]:
    """A 95% interval given as ``[low, high]`` or a mapping with low/high-like keys."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return number(value[0]), number(value[1])
    if isinstance(value, Mapping):
        for low, high in (("low", "high"), ("ci_low", "ci_high"), ("lo", "hi"), ("lower", "upper")):
            if low in value and high in value:
                return number(value[low]), number(value[high])
    return math.nan, math.nan


def fmt(value: Any, digits: int = 2) -> str:
    x = number(value)
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def fmt_ci(mean: Any, ci: tuple[float, float], digits: int = 2) -> str:
    if any(math.isnan(c) for c in ci):
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} [{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]"


def missing(key: str, title: str, what: str, source: str) -> Finding:
    """The finding of a question the run's outputs do not answer (``source``: where the
    answer would be, relative to the results folder)."""
    note = f"expected in {source}: absent, or in a shape this report does not read"
    return Finding(key, title, f"Not measured in this run: {what}.", UNKNOWN, note=note)


def ci_of(method: Mapping, metric: str) -> tuple[float, float]:
    return interval((method.get("ci") or {}).get(metric))


def evaluations(method: Mapping) -> float:
    """Forward-model evaluations per particle, under whichever key the run wrote it."""
    for key, value in method.items():
        if "evaluation" in key and not isinstance(value, Mapping | list):
            return number(value)
    return math.nan


def bars(title: str, ylabel: str, rows: Mapping[str, Mapping], metric: str, highlight: str):
    names = [n for n in rows if not math.isnan(number(rows[n].get(metric)))]
    cis = [ci_of(rows[n], metric) for n in names]
    return Panel(
        title,
        ylabel,
        names,
        [number(rows[n][metric]) for n in names],
        [c[0] for c in cis],
        [c[1] for c in cis],
        highlight=highlight,
    )
