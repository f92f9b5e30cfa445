"""The summary page as one static HTML document: inline style, no script, no network.

Figures are embedded as base64 data URIs (the page is one portable file) or linked relative
to the page. Tables carry their units in the column headers (or a ``unit`` column).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from flowem.report.collect import Section, Table, unit_of

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 0 1.5em 3em; color: #1d232a; }
h1 { border-bottom: 2px solid #345; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccd; }
h3 { margin-bottom: .3em; font-size: 1em; }
table { border-collapse: collapse; margin: .4em 0 1em; font-size: 13px; }
th, td { border: 1px solid #d5dae0; padding: .25em .6em; text-align: left; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #e3e6ea; }
figcaption, .note { color: #5a6570; font-size: 13px; }
.scale { font-size: 1.1em; background: #f3f6e8; padding: .5em .8em; border-left: 4px solid #8a4; }
.problem { color: #a33; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: 12px; }
nav ul { columns: 2; }
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


def table_html(table: Table, max_rows: int) -> str:
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
    return (
        f"<h3>{html.escape(table.title)}</h3>\n<table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>\n"
        + (f'<p class="note">{html.escape(note)}</p>\n' if note else "")
    )


def image_source(path: Path, page_dir: Path, embed: bool) -> str:
    if embed:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"data:{_MIME[path.suffix.lower()]};base64,{data}"
    return Path(os.path.relpath(path, page_dir)).as_posix()


def figure_html(path: Path, page_dir: Path, embed: bool) -> str:
    caption = path.stem.replace("_", " ")
    src = html.escape(image_source(path, page_dir, embed), quote=True)
    return (
        f'<figure><img src="{src}" alt="{html.escape(caption, quote=True)}">'
        f"<figcaption>{html.escape(caption)} ({html.escape(path.name)})</figcaption></figure>\n"
    )


def _pre_json(obj: Any) -> str:
    return f"<pre>{html.escape(json.dumps(obj, indent=2, sort_keys=True, default=str))}</pre>"


def section_html(section: Section, page_dir: Path, embed: bool, max_rows: int) -> str:
    parts = [f'<h2 id="{slug(section.name)}">{html.escape(section.name)}</h2>\n']
    parts += [table_html(t, max_rows) for t in section.tables]
    parts += [figure_html(f, page_dir, embed) for f in section.figures]
    parts += [f'<p class="problem">{html.escape(p)}</p>\n' for p in section.problems]
    if section.config is not None:
        parts.append(
            "<details><summary>resolved configuration of this output</summary>"
            + _pre_json(section.config)
            + "</details>\n"
        )
    return "".join(parts)


def render_page(
    *,
    title: str,
    scales: list[str],
    sections: list[Section],
    extra_tables: list[Table],
    provenance: dict[str, Any],
    provenance_tables: list[Table],
    resolved_config: dict[str, Any] | None,
    page_dir: Path,
    embed_images: bool = True,
    max_rows: int = 30,
) -> str:
    """The whole page: scale, one heading per stage output, run cost, then provenance."""
    scale_text = ", ".join(scales) if scales else "unknown (no resolved config states it)"
    toc = "".join(f'<li><a href="#{slug(s.name)}">{html.escape(s.name)}</a></li>' for s in sections)
    body = [
        f"<h1>{html.escape(title)}</h1>\n",
        f'<p class="scale">Scale of this run: <strong>{html.escape(scale_text)}</strong></p>\n',
        f'<nav><ul>{toc}<li><a href="#provenance">provenance</a></li></ul></nav>\n',
    ]
    if not sections:
        body.append('<p class="note">No tables or figures were found in the results.</p>\n')
    body += [section_html(s, page_dir, embed_images, max_rows) for s in sections]
    if extra_tables:
        body.append('<h2 id="run-cost">run cost</h2>\n')
        body += [table_html(t, max_rows=500) for t in extra_tables]
    body.append('<h2 id="provenance">provenance</h2>\n')
    facts = {k: v for k, v in provenance.items() if k != "packages"}
    body.append(
        "<table><tbody>"
        + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in facts.items()
        )
        + "</tbody></table>\n"
    )
    body += [table_html(t, max_rows=1000) for t in provenance_tables]
    if resolved_config is not None:
        body.append("<h3>resolved configuration</h3>\n" + _pre_json(resolved_config) + "\n")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "".join(body)
        + "</body>\n</html>\n"
    )
