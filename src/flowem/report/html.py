"""The summary page as one static HTML document: inline style, no script, no network.

The run's answers come first (:mod:`flowem.report.findings`: verdict, sentence, table,
charts, figures), then one section per stage in pipeline order with every output folder,
configuration and provenance folded in ``<details>``. Every figure is copied beside the page
(``figures/``) and linked at full resolution; shown embedded as a base64 data URI (or linked
there), so the report folder opens anywhere. Tables carry their units in the column headers
(or a ``unit`` column).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from flowem.report.collect import STAGE_ORDER, Section, Table, unit_of
from flowem.report.findings import Finding

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1320px;
       padding: 0 1.5em 3em; color: #1d232a; }
h1 { font-size: 1.5em; margin: .5em 0 .2em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ccd; }
h3 { margin: .2em 0 .3em; font-size: 1.1em; }
h4 { margin: .8em 0 .2em; font-size: 1em; }
table { border-collapse: collapse; margin: .4em 0 .8em; font-size: 13px; }
th, td { border: 1px solid #d5dae0; padding: .2em .55em; text-align: left; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .3em .8em .8em 0; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; max-height: 420px; border: 1px solid #e3e6ea; }
.finding figure img { max-height: 300px; }
.finding td { white-space: nowrap; }
figcaption, .note, .criterion { color: #5a6570; font-size: 13px; }
.run { font-size: 1em; background: #f3f6e8; padding: .45em .8em; border-left: 4px solid #8a4;
       margin: .3em 0; }
.chips a { display: inline-block; margin: .15em .3em .15em 0; padding: .1em .6em;
           border-radius: 1em; font-size: 13px; text-decoration: none; color: #1d232a; }
.held { background: #d8f0d2; } .not-held { background: #f6d5d2; } .unknown { background: #e6e8eb; }
.verdict { font-size: .85em; padding: .1em .6em; border-radius: 1em; margin-left: .5em;
           font-weight: 600; white-space: nowrap; }
.finding { border-top: 1px solid #e3e6ea; padding-top: .6em; margin-top: .6em; }
.finding:first-of-type { border-top: none; margin-top: 0; padding-top: 0; }
.sentence { font-size: 1.05em; margin: .2em 0; }
details { margin: .3em 0; } summary { cursor: pointer; }
details.output { border-left: 3px solid #d5dae0; padding-left: .6em; }
.problem { color: #a33; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: 12px; }
"""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _cell(value: Any) -> tuple[str, bool]:
    """Text of a table cell and whether it is numeric."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–", False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value)}", True
        return f"{value:.4g}", True
    if hasattr(value, "item"):  # numpy scalar
        return _cell(value.item())
    return str(value), False


def table_html(table: Table, max_rows: int, element_id: str = "") -> str:
    frame: pd.DataFrame = table.frame
    has_unit_column = "unit" in frame.columns
    headers = []
    for column in frame.columns:
        unit = "" if has_unit_column else unit_of(str(column), table.units)
        headers.append(f"{column} ({unit})" if unit else str(column))
    rows = []
    for record in frame.head(max_rows).itertuples(index=False):
        cells = []
        for value in record:
            text, numeric = _cell(value)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = table.note
    if len(frame) > max_rows:
        note = f"first {max_rows} of {len(frame)} rows; full table: {table.source.name}. {note}"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    ident = f' id="{element_id}"' if element_id else ""
    return (
        f"<h4>{html.escape(table.title)}</h4>\n<table{ident}><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>\n"
        + (f'<p class="note">{html.escape(note)}</p>\n' if note else "")
    )


@dataclass
class Figures:
    """Figures of the page: each copied into ``page_dir/figures`` (the full-resolution
    link) and shown embedded (``embed``) or from that copy."""

    page_dir: Path
    embed: bool = True
    root: Path | None = None  # figure names are their paths relative to it
    captions: dict[Path, str] = field(default_factory=dict)  # Snakemake report's, by path
    copied: dict[Path, str] = field(default_factory=dict)

    def link(self, path: Path) -> str:
        path = Path(path)
        if path not in self.copied:
            folder = self.page_dir / "figures"
            try:
                rel = path.resolve().relative_to(folder.resolve())
                name = rel.as_posix()
            except ValueError:
                try:
                    parts = path.resolve().relative_to(Path(self.root).resolve()).parts
                except (TypeError, ValueError):
                    parts = path.parts[-3:]
                name = "__".join(parts)
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, folder / name)
            self.copied[path] = f"figures/{name}"
        return self.copied[path]

    def html(self, path: Path, caption: str = "") -> str:
        href = self.link(path)
        if self.embed:
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            src = f"data:{_MIME[Path(path).suffix.lower()]};base64,{data}"
        else:
            src = href
        caption = (
            caption or self.captions.get(Path(path).resolve()) or Path(path).stem.replace("_", " ")
        )
        return (
            f'<figure><a href="{html.escape(href, quote=True)}" target="_blank">'
            f'<img src="{html.escape(src, quote=True)}" alt="{html.escape(caption, quote=True)}">'
            f"</a><figcaption>{html.escape(caption)} ({html.escape(Path(path).name)}; "
            "click for full resolution)</figcaption></figure>\n"
        )


def _pre_json(obj: Any) -> str:
    return f"<pre>{html.escape(json.dumps(obj, indent=2, sort_keys=True, default=str))}</pre>"


def verdict_class(verdict: str) -> str:
    return slug(verdict)


def finding_html(finding: Finding, figures: Figures, chart: Path | None) -> str:
    key = html.escape(finding.key)
    verdict = html.escape(finding.verdict)
    parts = [
        f'<article class="finding" id="finding-{key}">\n<h3>{html.escape(finding.title)}'
        f'<span class="verdict {verdict_class(finding.verdict)}" id="{key}-verdict">'
        f"{verdict}</span></h3>\n",
        f'<p class="sentence">{html.escape(finding.sentence)}</p>\n',
    ]
    if finding.criterion:
        parts.append(f'<p class="criterion">Verdict tests: {html.escape(finding.criterion)}</p>\n')
    if finding.table is not None and not finding.table.empty:
        table = Table("", Path("."), finding.table, note=finding.note)
        parts.append(
            table_html(table, max_rows=60, element_id=f"{key}-table").replace("<h4></h4>\n", "")
        )
    elif finding.note:
        parts.append(f'<p class="note" id="{key}-table">{html.escape(finding.note)}</p>\n')
    if chart is not None:
        parts.append(figures.html(chart, f"{finding.title} (chart of the table)"))
    parts += [figures.html(f) for f in finding.figures]
    return "".join(parts) + "</article>\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def output_html(section: Section, figures: Figures, max_rows: int) -> str:
    """One output folder, folded: its tables, figures, problems and configuration."""
    summary = (
        f"{html.escape(section.name)} — {_count(len(section.tables), 'table')}, "
        f"{_count(len(section.figures), 'figure')}"
        + (f", {_count(len(section.problems), 'problem')}" if section.problems else "")
    )
    parts = [
        f'<details class="output" id="out-{slug(section.name)}"><summary>{summary}</summary>\n'
    ]
    sources = [t.source.resolve() for t in section.tables] + [f.resolve() for f in section.figures]
    texts = dict.fromkeys(figures.captions[p] for p in sources if p in figures.captions)
    parts += [f'<p class="note">{html.escape(text)}</p>\n' for text in texts]
    parts += [table_html(t, max_rows) for t in section.tables]
    parts += [figures.html(f) for f in section.figures]
    parts += [f'<p class="problem">{html.escape(p)}</p>\n' for p in section.problems]
    if section.config is not None:
        parts.append(
            "<details><summary>resolved configuration of this output</summary>"
            + _pre_json(section.config)
            + "</details>\n"
        )
    return "".join(parts) + "</details>\n"


def stage_of(section: Section) -> str:
    top = section.name.split("/", 1)[0]
    return top if top in STAGE_ORDER else "other outputs"


@dataclass
class Page:
    """What the page shows (see :func:`render_page`)."""

    title: str
    scales: list[str]
    run_time: str
    findings: list[Finding]
    charts: dict[str, Path]
    sections: list[Section]
    run_cost: list[Table]
    run_cost_chart: Path | None
    provenance: dict[str, Any]
    provenance_tables: list[Table]
    resolved_config: dict[str, Any] | None
    snakemake_report: str = "report.zip"
    results: Path | None = None
    captions: dict[Path, str] = field(default_factory=dict)


def render_page(page: Page, page_dir: Path, embed_images: bool = True, max_rows: int = 30) -> str:
    """The whole page: scale and run time, the findings, then the details stage by stage,
    the run cost and provenance."""
    figures = Figures(page_dir, embed_images, page.results, page.captions)
    scale_text = ", ".join(page.scales) if page.scales else "unknown (no resolved config states it)"
    chips = "".join(
        f'<a class="{verdict_class(f.verdict)}" href="#finding-{html.escape(f.key)}">'
        f"{html.escape(f.title)} <strong>{html.escape(f.verdict)}</strong></a>"
        for f in page.findings
    )
    body = [
        f"<header><h1>{html.escape(page.title)}</h1>\n",
        f'<p class="run">Scale of this run: <strong>{html.escape(scale_text)}</strong> · '
        f"{html.escape(page.run_time)} · "
        f'<a href="{html.escape(page.snakemake_report)}">Snakemake\'s report</a> '
        '(<code>make report</code>) · <a href="#details">details by stage</a> · '
        '<a href="#provenance">provenance</a></p>\n',
        f'<nav class="chips">{chips}</nav></header>\n<main>\n<section id="findings">\n',
    ]
    body += [finding_html(f, figures, page.charts.get(f.key)) for f in page.findings]
    body.append('</section>\n<h2 id="details">Details, stage by stage</h2>\n')
    if not page.sections:
        body.append('<p class="note">No tables or figures were found in the results.</p>\n')
    stages: dict[str, list[Section]] = {}
    for section in page.sections:
        stages.setdefault(stage_of(section), []).append(section)
    for stage, sections in stages.items():
        body.append(f'<section id="stage-{slug(stage)}"><h3>{html.escape(stage)}</h3>\n')
        body += [output_html(s, figures, max_rows) for s in sections]
        body.append("</section>\n")
    if page.run_cost or page.run_cost_chart:
        body.append('<h2 id="run-cost">Run time per rule</h2>\n')
        if page.run_cost_chart is not None:
            body.append(figures.html(page.run_cost_chart, "run time per rule"))
        if page.run_cost:
            body.append("<details><summary>benchmark table (every job)</summary>\n")
            body += [table_html(t, max_rows=500) for t in page.run_cost]
            body.append("</details>\n")
    body.append(
        '<h2 id="provenance">Provenance</h2>\n<details><summary>environment, outputs, '
        "data checksums and the resolved configuration</summary>\n"
    )
    facts = {k: v for k, v in page.provenance.items() if k != "packages"}
    body.append(
        "<table><tbody>"
        + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in facts.items()
        )
        + "</tbody></table>\n"
    )
    body += [table_html(t, max_rows=1000) for t in page.provenance_tables]
    if page.resolved_config is not None:
        body.append("<h4>resolved configuration</h4>\n" + _pre_json(page.resolved_config) + "\n")
    body.append("</details>\n</main>\n")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{html.escape(page.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "".join(body)
        + "</body>\n</html>\n"
    )
