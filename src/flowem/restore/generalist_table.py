"""Command ``generalist-table``: the per-data-set table ``results/restore/generalist.json``.

Joins the ``scores.json`` of ``restore-generalist`` runs (the in-domain run and any
leave-one-data-set-out runs) into ``{"datasets": {name: {"in_domain" | "leave_one_out": {task:
{method: {psnr, ssim, ci, ...}}}}}, "flow_row": ..., "sets": ..., "summary": ...}``. The
summary holds, per data set, part and task, the flow row's PSNR, the best classical row and
its PSNR, their gap (``flow_minus_classical_db``), and, where both parts exist, the flow's drop
from in-domain to leave-one-out (``loo_drop_db``; the target: under 0.5 dB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowem.command import command_parser, guarded, parse
from flowem.io import read_json, write_json
from flowem.runtime import setup_logging

NOT_CLASSICAL = ("flow_", "supervised", "diffusion_dps", "input")


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs joined key by key (``datasets``, ``flow_row``: per data set, per part)."""
    out: dict[str, Any] = {"datasets": {}, "flow_row": {}, "sets": {}}
    for scores in parts:
        for key in ("datasets", "flow_row"):
            for name, by_part in scores.get(key, {}).items():
                out[key].setdefault(name, {}).update(by_part)
        out["sets"].update(scores.get("sets", {}))
    out["summary"] = summary(out)
    return out


def summary(table: dict[str, Any]) -> dict[str, Any]:
    """Flow against the best classical row per data set, part and task (PSNR, dB)."""
    out: dict[str, Any] = {}
    for name, by_part in table["datasets"].items():
        rows = out.setdefault(name, {})
        for part, tasks in by_part.items():
            for task, methods in tasks.items():
                flow = table["flow_row"].get(name, {}).get(part, {}).get(task)
                if flow is None or methods[flow].get("psnr") is None:
                    continue  # scored without reference
                classical = {
                    m: s["psnr"] for m, s in methods.items() if not m.startswith(NOT_CLASSICAL)
                }
                best = max(classical, key=classical.get)
                rows.setdefault(part, {})[task] = {
                    "flow_row": flow,
                    "flow_psnr": methods[flow]["psnr"],
                    "best_classical": best,
                    "best_classical_psnr": classical[best],
                    "flow_minus_classical_db": methods[flow]["psnr"] - classical[best],
                }
        inside, left_out = rows.get("in_domain", {}), rows.get("leave_one_out", {})
        for task in set(inside) & set(left_out):
            drop = inside[task]["flow_psnr"] - left_out[task]["flow_psnr"]
            left_out[task]["loo_drop_db"] = drop
    return out


@guarded
def run(scores: list[str | Path]) -> dict[str, Any]:
    """The table of the ``scores.json`` files of restore-generalist runs."""
    return merge([read_json(path) for path in scores])


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem generalist-table", __doc__, out="the table (JSON)")
    parser.add_argument("scores", nargs="+", help="scores.json of restore-generalist runs")
    args, _ = parse(parser, argv, {})
    setup_logging(args.log, name="flowem.generalist_table")
    write_json(Path(args.out), run(args.scores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
