"""``flowem report``: the page a scientist opens after a run, ``results/report/index.html``.

One section per output folder under ``--results`` with its tables (metrics JSON, CSV/TSV)
and figures, the scale the run used, the cost of each rule (Snakemake benchmark files), and
provenance: this report's environment (package versions, git commit), each output's
creation record, the resolved configuration and the sha256 of every data file under
``resources/``. The page is static HTML with figures embedded; with Chromium present it is
opened headless, checked (images loaded, no console errors) and screenshotted beside it.

Parameters (``--params`` JSON, all optional): ``title`` (str), ``embed_images`` (bool,
true), ``max_table_rows`` (int, 30), ``checksums`` (bool, true), ``check_page``
(``"auto"`` | true | false, ``"auto"``), ``scale`` (str: the run's scale when no output
config states it), ``config`` (object: the whole resolved configuration to show).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from flowem.command import command_parser, guarded, parse
from flowem.errors import FlowemError
from flowem.fetch import known_files, sha256sum
from flowem.io import atomic_path, write_json
from flowem.report.collect import Section, Table, benchmark_table, collect, run_scales
from flowem.report.html import render_page
from flowem.runtime import provenance, setup_logging, write_run_config
from flowem.settings import resolve_params

log = logging.getLogger("flowem.report")

DEFAULTS: dict[str, Any] = {
    "title": "flowem run report",
    "embed_images": True,
    "max_table_rows": 30,
    "checksums": True,
    "check_page": "auto",
    "scale": None,
    "config": None,
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


def build_report(
    results: str | Path, out: str | Path, params: dict[str, Any], resources: str | Path | None
) -> Path:
    """Write the summary page of ``results`` to ``out``; returns ``out``."""
    options = resolve_params(params, DEFAULTS, "report")
    results, out = Path(results), Path(out)
    sections = collect(results)
    bench = benchmark_table(results / "benchmarks")
    env = provenance()
    resources_dir = Path(resources) if resources is not None and options["checksums"] else None
    page = render_page(
        title=options["title"],
        scales=run_scales(sections, options["scale"]),
        sections=sections,
        extra_tables=[bench] if bench is not None else [],
        provenance=env,
        provenance_tables=provenance_tables(sections, resources_dir, env),
        resolved_config=options["config"],
        page_dir=out.parent,
        embed_images=bool(options["embed_images"]),
        max_rows=int(options["max_table_rows"]),
    )
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info(
        "%s: %d sections, %d figures", out, len(sections), sum(len(s.figures) for s in sections)
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
        check = check_page(page, page.parent / "screenshot.png")
    except BrowserError as exc:
        if mode == "auto":
            log.warning("page not checked in a browser: %s", exc)
            return
        raise
    write_json(page.parent / "page_check.json", check.as_dict())
    if check.ok:
        log.info("page check: %d images loaded, no console errors", len(check.images))
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
