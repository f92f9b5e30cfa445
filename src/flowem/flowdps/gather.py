"""``flowem gather-flowdps``: join the shards of ``flowdps`` into one result folder.

Writes ``mean.mrcs`` (the reconstruction), ``std.mrcs`` (pixel-wise posterior std),
``best.mrcs`` (lowest-residual sample), optionally ``samples.mrcs`` (N*S images), and
``particles.csv`` (index, deviances, seconds, samples, forward-model evaluations, status) with
the resolved ``config.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flowem.command import command_parser, guarded, parse
from flowem.errors import InputFileError
from flowem.io import write_mrc, write_table
from flowem.runtime import setup_logging, write_run_config

IMAGES = ("mean", "std", "best")


def read_shards(paths: list[str]) -> dict[str, np.ndarray]:
    parts = []
    for path in paths:
        try:
            with np.load(path) as data:
                parts.append({key: data[key] for key in data.files})
        except (OSError, ValueError, KeyError) as exc:
            raise InputFileError(path, f"not a readable flowdps shard ({exc})") from exc
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.argsort(merged["indices"])
    merged = {key: value[order] for key, value in merged.items()}
    if np.any(np.diff(merged["indices"]) != 1) or merged["indices"][0] != 0:
        raise InputFileError(paths[0], "shards do not cover the particles exactly once")
    return merged


def run(shards: list[str]) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The shards joined in particle order, and the per-particle table."""
    merged = read_shards(shards)
    table = pd.DataFrame(
        {
            "index": merged["indices"],
            "deviance_best": merged["deviance_best"],
            "deviance_mean": merged["deviance_mean"],
            "seconds": merged["seconds"],
            "status": merged["status"],
        }
    )
    for key in ("n_samples", "forward_evaluations"):  # shards of older runs lack them
        if key in merged:
            table.insert(len(table.columns) - 1, key, merged[key])
    return merged, table


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem gather-flowdps", __doc__, outdir="output folder")
    parser.add_argument("shards", nargs="+", help="shard .npz files of flowem flowdps")
    parser.add_argument("--pixel-size", type=float, required=True, help="pixel size (A)")
    args, params = parse(parser, argv)
    log = setup_logging(args.log)
    merged, table = run(args.shards)
    outdir = Path(args.outdir)
    for name in IMAGES:
        write_mrc(outdir / f"{name}.mrcs", np.nan_to_num(merged[name]), args.pixel_size)
    if "samples" in merged:
        samples = merged["samples"]
        write_mrc(
            outdir / "samples.mrcs",
            np.nan_to_num(samples.reshape(-1, *samples.shape[2:])),
            args.pixel_size,
        )
    write_table(outdir / "particles.csv", table)
    write_run_config(
        outdir, {"stage": "flowdps", "seed": args.seed, "params": params, "shards": args.shards}
    )
    log.info("%d particles, %d failed", len(table), int((table.status != "ok").sum()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
