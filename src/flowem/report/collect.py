"""Gather what a run left under ``results/``: one section per output folder, holding its
tables (``*.json`` metrics, ``*.csv`` / ``*.tsv``), figures (``*.png``, ``*.jpg``, ``*.svg``)
and the resolved ``config.json`` with provenance that each rule writes beside its outputs.

Units come from an explicit ``"units": {"key": "unit"}`` mapping in a metrics JSON, else from
the key's suffix (``_a`` angstrom, ``_nm``, ``_db``, ``_s``, ...), else from a few known
metric names (PSNR in dB).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from flowem.errors import InputFileError
from flowem.io import read_json, read_table

log = logging.getLogger("flowem.report")

FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg")
TABLE_SUFFIXES = (".csv", ".tsv")
#: pipeline order of the top-level result folders; others follow alphabetically
STAGE_ORDER = ("data", "prior", "flowdps", "baselines", "restore", "sip", "evaluate", "bench")
MAX_FILE_MB = 20.0

_SUFFIX_UNITS = {
    "_inv_a": "1/Å",
    "_per_a": "1/Å",
    "_inv_nm": "1/nm",
    "_a": "Å",
    "_angstrom": "Å",
    "_nm": "nm",
    "_um": "µm",
    "_px": "px",
    "_db": "dB",
    "_s": "s",
    "_seconds": "s",
    "_ms": "ms",
    "_min": "min",
    "_bytes": "B",
    "_mb": "MB",
    "_gb": "GB",
    "_rad": "rad",
    "_kv": "kV",
    "_mm": "mm",
    "_e_per_a2": "e⁻/Å²",
    "_percent": "%",
    "_pct": "%",
}
_NAME_UNITS = {"psnr": "dB", "s": "s", "cpu_time": "s", "max_rss": "MB", "max_vms": "MB"}


def unit_of(key: str, units: dict[str, str] | None = None) -> str:
    """The unit of a column or metric ``key`` ("" when unknown or dimensionless)."""
    if units and key in units:
        return units[key]
    leaf = key.rsplit(".", 1)[-1].lower()
    for suffix, unit in sorted(_SUFFIX_UNITS.items(), key=lambda kv: -len(kv[0])):
        if leaf.endswith(suffix) and len(leaf) > len(suffix):
            return unit
    for name, unit in _NAME_UNITS.items():
        if leaf == name or leaf.startswith(f"{name}_"):
            return unit
    return ""


@dataclass
class Table:
    title: str
    source: Path
    frame: pd.DataFrame
    units: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass
class Section:
    """One output folder of the run (``name`` relative to the results folder)."""

    name: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    config: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _is_record_group(value: Any) -> bool:
    """A mapping of names to flat mappings, e.g. ``{"flowdps": {"psnr": ..}, "ctf": {..}}``."""
    return (
        isinstance(value, dict)
        and len(value) > 1
        and all(
            isinstance(v, dict) and v and all(map(_is_scalar, v.values())) for v in value.values()
        )
    )


def json_tables(doc: Any, title: str, source: Path) -> list[Table]:
    """Tables of a metrics document: scalars as key / value / unit rows; groups of flat
    mappings and lists of records as 2D tables; numeric series summarised by their length."""
    units = doc.pop("units", None) if isinstance(doc, dict) else None
    units = units if isinstance(units, dict) else {}
    scalars: dict[str, Any] = {}
    tables: list[Table] = []

    def walk(obj: Any, prefix: str) -> None:
        if _is_record_group(obj):
            frame = pd.DataFrame.from_dict(obj, orient="index")
            frame.index.name = prefix.rsplit(".", 1)[-1] or "name"
            tables.append(
                Table(f"{title}: {prefix or 'values'}", source, frame.reset_index(), units)
            )
        elif isinstance(obj, dict):
            for key, value in obj.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        elif isinstance(obj, list):
            if obj and all(isinstance(v, dict) for v in obj):
                tables.append(Table(f"{title}: {prefix}", source, pd.DataFrame(obj), units))
            elif len(obj) <= 8 and all(map(_is_scalar, obj)):
                scalars[prefix] = ", ".join(map(str, obj))
            else:  # a curve or a series: too long for a table, plotted by its stage
                scalars[prefix] = f"[{len(obj)} values]"
        else:
            scalars[prefix or "value"] = obj

    walk(doc, "")
    if scalars:
        frame = pd.DataFrame(
            {
                "quantity": list(scalars),
                "value": pd.Series(list(scalars.values()), dtype=object),
                "unit": [unit_of(k, units) for k in scalars],
            }
        )
        tables.insert(0, Table(title, source, frame, units))
    return tables


def _stage_key(name: str) -> tuple[int, str]:
    top = name.split("/", 1)[0]
    return (STAGE_ORDER.index(top) if top in STAGE_ORDER else len(STAGE_ORDER), name)


def collect(
    results: str | Path, skip: tuple[str, ...] = ("report", "logs", "benchmarks")
) -> list[Section]:
    """Sections of every folder under ``results`` holding tables, figures or a config."""
    results = Path(results)
    if not results.is_dir():
        raise InputFileError(results, "results folder does not exist")
    sections: dict[str, Section] = {}
    for path in sorted(results.rglob("*")):
        rel = path.relative_to(results)
        if not path.is_file() or rel.parts[0] in skip or any(p.startswith(".") for p in rel.parts):
            continue
        suffix = path.suffix.lower()
        if suffix not in (*FIGURE_SUFFIXES, *TABLE_SUFFIXES, ".json"):
            continue
        name = rel.parent.as_posix() if rel.parent.parts else "(top level)"
        section = sections.setdefault(name, Section(name))
        try:
            _add(section, path, suffix)
        except InputFileError as exc:
            log.warning("%s", exc)
            section.problems.append(str(exc))
    return sorted(sections.values(), key=lambda s: _stage_key(s.name))


def _add(section: Section, path: Path, suffix: str) -> None:
    if suffix in FIGURE_SUFFIXES:
        section.figures.append(path)
        return
    size_mb = path.stat().st_size / 2**20
    if size_mb > MAX_FILE_MB:
        section.problems.append(f"{path.name}: {size_mb:.0f} MB, too large to show")
        return
    if suffix in TABLE_SUFFIXES:
        section.tables.append(Table(path.name, path, read_table(path)))
        return
    doc = read_json(path)
    if path.name == "config.json" and isinstance(doc, dict) and "config" in doc:
        section.config = doc.get("config")
        section.provenance = doc.get("provenance")
        return
    section.tables.extend(json_tables(doc, path.name, path))


def run_scales(sections: list[Section], fallback: str | None = None) -> list[str]:
    """The ``scale`` values found in the sections' resolved configs (plus ``fallback``)."""
    found: list[str] = [fallback] if fallback else []

    def search(obj: Any) -> None:
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key == "scale" and isinstance(value, str):
                    found.append(value)
                else:
                    search(value)

    for section in sections:
        search(section.config)
    return sorted(set(found))


def benchmark_table(benchmarks: str | Path) -> Table | None:
    """Snakemake ``benchmark:`` files under ``benchmarks`` as one table of run time and memory."""
    benchmarks = Path(benchmarks)
    rows = []
    for path in sorted(benchmarks.rglob("*.tsv")) if benchmarks.is_dir() else []:
        try:
            frame = read_table(path)
        except InputFileError as exc:
            log.warning("%s", exc)
            continue
        if frame.empty:
            continue
        row = {"rule": path.relative_to(benchmarks).with_suffix("").as_posix()}
        for column in ("s", "max_rss", "cpu_time", "mean_load"):
            if column in frame:
                row[column] = pd.to_numeric(frame[column], errors="coerce").mean()
        rows.append(row)
    if not rows:
        return None
    return Table("Snakemake benchmarks (mean over repeats)", benchmarks, pd.DataFrame(rows))
