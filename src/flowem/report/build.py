"""``flowem report``: the page a scientist opens after a run, ``results/report/index.html``.

First the run's answers (:mod:`flowem.report.findings`): per question a verdict, a sentence
computed from the numbers, its table, a chart and the stage's figures, under the run's scale
and run time. Then the details: one section per stage in pipeline order, each output folder
under ``--results`` folded with its tables (metrics JSON, CSV/TSV), figures and resolved
config; the run time of each rule as a chart (Snakemake benchmark files); and provenance:
this report's environment (package versions, git commit), each output's creation record,
the resolved configuration and the sha256 of every data file under ``resources/``. The page
is static HTML; every figure is copied into ``figures/`` beside it (full resolution on click)
and embedded. With Chromium present the page is opened headless and checked (images loaded,
no console errors, the FlowDPS answer on the first 1400 x 900 screen, folded details open);
``screenshot.png`` (whole page) and ``first_screen.png`` are kept beside it.

Parameters (``--params`` JSON, all optional): ``title`` (str), ``embed_images`` (bool,
true), ``max_table_rows`` (int, 30), ``checksums`` (bool, true), ``check_page``
(``"auto"`` | true | false, ``"auto"``), ``scale`` (str: the run's scale when no output
config states it), ``config`` (object: the whole resolved configuration to show),
``captions`` (str or null, ``"workflow"``: the workflow folder whose ``report(...)`` captions
of Snakemake's report are shown with the same outputs here).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from flowem.command import command_parser, guarded, parse
from flowem.errors import FlowemError
from flowem.fetch import known_files, sha256sum
from flowem.io import atomic_path, write_json
from flowem.report.captions import caption_for, read_captions
from flowem.report.collect import Section, Table, benchmark_table, collect, run_scales
from flowem.report.figures import plot_panels, plot_rule_times, save_figure
from flowem.report.findings import Finding, gather
from flowem.report.html import Page, render_page
from flowem.runtime import provenance, setup_logging, write_run_config
from flowem.settings import resolve_params

log = logging.getLogger("flowem.report")

#: elements the first screen (1400 x 900) must show: the FlowDPS answer's table and verdict
FIRST_SCREEN_IDS = ("flowdps-table", "flowdps-verdict")
VIEWPORT = (1400, 900)

DEFAULTS: dict[str, Any] = {
    "title": "flowem run report",
    "embed_images": True,
    "max_table_rows": 30,
    "checksums": True,
    "check_page": "auto",
    "scale": None,
    "config": None,
    "captions": "workflow",
}


def data_checksums(resources: Path) -> Table | None:
    """sha256 of every data file under ``resources`` (links followed), against the registry."""
    if not resources.is_dir():
        return None
    registry = {f.id: f.sha256 for f in known_files()}
    rows = []
    for path in sorted(resources.rglob("*")):
        rel = path.relative_to(resources).as_posix()
        if path.name.startswith(".") or path.name.endswith(".part") or path.is_dir():
            continue
        if not path.exists():
            rows.append(
                {"file": rel, "size_bytes": None, "sha256": "", "registry": "dangling link"}
            )
            continue
        digest = sha256sum(path)
        known = registry.get(rel)
        if rel not in registry:
            status = "not in registry"
        elif known is None:
            status = "no registry checksum"
        else:
            status = "matches registry" if known == digest else "DIFFERS from registry"
        rows.append(
            {
                "file": rel,
                "size_bytes": path.stat().st_size,
                "sha256": digest,
                "registry": status,
            }
        )
    if not rows:
        return None
    return Table(f"data checksums ({resources})", resources, pd.DataFrame(rows))


def provenance_tables(sections: list[Section], resources: Path | None, env: dict) -> list[Table]:
    tables = [
        Table(
            "package versions (this report)",
            Path("."),
            pd.DataFrame(sorted(env.get("packages", {}).items()), columns=["package", "version"]),
        )
    ]
    made = [
        {
            "output": s.name,
            "created_utc": s.provenance.get("created_utc"),
            "git_commit": s.provenance.get("git_commit"),
            "python": s.provenance.get("python"),
        }
        for s in sections
        if s.provenance
    ]
    if made:
        frame = pd.DataFrame(made)
        note = ""
        if frame["git_commit"].nunique(dropna=False) > 1:
            note = "outputs were made from more than one commit"
        tables.append(Table("outputs and the code that made them", Path("."), frame, note=note))
    if resources is not None and (checksums := data_checksums(resources)) is not None:
        tables.append(checksums)
    return tables


def rule_seconds(bench: Table | None) -> dict[str, float]:
    """Seconds per rule, summed over its jobs (``flowdps/test/1-of-4`` counts to ``flowdps``)."""
    if bench is None or "s" not in bench.frame:
        return {}
    rules = bench.frame["rule"].str.split("/").str[0]
    return {k: float(v) for k, v in bench.frame["s"].groupby(rules).sum().items() if v > 0}


def run_time(sections: list[Section], bench: Table | None) -> str:
    """The run's time: first to last output written, and rule time summed over jobs."""
    stamps = pd.to_datetime(
        [s.provenance.get("created_utc") for s in sections if s.provenance],
        errors="coerce",
        utc=True,
    ).dropna()
    parts = []
    if len(stamps) > 1:
        minutes = (stamps.max() - stamps.min()).total_seconds() / 60
        parts.append(f"outputs written over {minutes:.0f} min (first to last)")
    total = sum(rule_seconds(bench).values())
    if total:
        parts.append(f"{total / 60:.0f} min of rule time in total")
    if len(stamps):
        parts.append(f"finished {stamps.max():%Y-%m-%d %H:%M} UTC")
    return "; ".join(parts) or "run time unknown (no benchmark or provenance records)"


def output_captions(results: Path, workflow: str | None, config: dict | None) -> dict[Path, str]:
    """The Snakemake report's caption of every output under ``results`` that has one."""
    captions = read_captions(workflow)
    found = {}
    for path in results.rglob("*") if captions else []:
        if path.is_file() and (
            text := caption_for(path.relative_to(results).as_posix(), captions, config)
        ):
            found[path.resolve()] = text
    return found


def draw_charts(findings: list[Finding], folder: Path) -> dict[str, Path]:
    """One chart per finding with panels, ``folder/finding_<key>.png``."""
    charts = {}
    for finding in findings:
        if finding.panels:
            fig = plot_panels(finding.panels)
            charts[finding.key] = save_figure(fig, folder / f"finding_{finding.key}.png")
    return charts


def build_report(
    results: str | Path, out: str | Path, params: dict[str, Any], resources: str | Path | None
) -> Path:
    """Write the summary page of ``results`` to ``out``; returns ``out``."""
    options = resolve_params(params, DEFAULTS, "report")
    results, out = Path(results), Path(out)
    sections = collect(results)
    bench = benchmark_table(results / "benchmarks")
    findings = gather(results)
    figures = out.parent / "figures"
    shutil.rmtree(figures, ignore_errors=True)  # copies of a previous build's figures
    rule_chart = None
    if seconds := rule_seconds(bench):
        rule_chart = save_figure(plot_rule_times(seconds), figures / "rule_times.png")
    env = provenance()
    resources_dir = Path(resources) if resources is not None and options["checksums"] else None
    page = Page(
        title=options["title"],
        scales=run_scales(sections, options["scale"]),
        run_time=run_time(sections, bench),
        findings=findings,
        charts=draw_charts(findings, figures),
        sections=sections,
        run_cost=[bench] if bench is not None else [],
        run_cost_chart=rule_chart,
        provenance=env,
        provenance_tables=provenance_tables(sections, resources_dir, env),
        resolved_config=options["config"],
        results=results,
        captions=output_captions(results, options["captions"], options["config"]),
    )
    text = render_page(
        page, out.parent, bool(options["embed_images"]), int(options["max_table_rows"])
    )
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info(
        "%s: %d findings (%s), %d sections, %d figures",
        out,
        len(findings),
        ", ".join(f"{f.key} {f.verdict}" for f in findings),
        len(sections),
        sum(len(s.figures) for s in sections),
    )
    return out


def check_report_page(page: Path, mode: str | bool) -> None:
    """Open ``page`` headless; write ``screenshot.png`` and ``page_check.json`` beside it.

    ``mode`` ``"auto"`` skips quietly without Chromium; ``True`` requires it and a clean page.
    """
    from flowem.report.browser import BrowserError, check_page

    if mode is False or mode == "false":
        return
    try:
        check = check_page(
            page,
            page.parent / "screenshot.png",
            first_screen=page.parent / "first_screen.png",
            viewport=VIEWPORT,
            first_screen_ids=FIRST_SCREEN_IDS,
        )
    except BrowserError as exc:
        if mode == "auto":
            log.warning("page not checked in a browser: %s", exc)
            return
        raise
    write_json(page.parent / "page_check.json", check.as_dict())
    if check.ok:
        log.info(
            "page check: %d images loaded, no console errors, %d details open",
            len(check.images),
            len(check.details),
        )
    elif mode is True:
        raise FlowemError(f"{page}: page check failed: {json.dumps(check.as_dict(), default=str)}")
    else:
        log.warning("page check failed: %s", check.as_dict())


def run(
    params: dict[str, Any], results: str | Path, out: str | Path, resources: str | Path | None
) -> Path:
    """Write the summary page of ``results`` to ``out`` and check it in a browser; the page."""
    page = build_report(results, out, params, resources)
    check_report_page(page, params.get("check_page", DEFAULTS["check_page"]))
    return page


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem report", __doc__.split("\n\n")[0], out="page to write (results/report/index.html)"
    )
    parser.add_argument("--results", default="results", help="results folder of the run")
    parser.add_argument(
        "--resources", default="resources", help="data cache whose files are checksummed"
    )
    args, params = parse(parser, argv, DEFAULTS)
    setup_logging(args.log)
    page = run(params, args.results, args.out, args.resources)
    write_run_config(page.parent, {"results": args.results, "seed": args.seed, **params})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
