"""``flowem gather-flowdps``: join the shards of ``flowdps`` into one result folder.

Writes ``mean.mrcs`` (the reconstruction), ``std.mrcs`` (pixel-wise posterior std),
``best.mrcs`` (lowest-residual sample), optionally ``samples.mrcs`` (N*S images), and
``particles.csv`` (index, deviances, seconds, status) with the resolved ``config.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from flowem.command import add_common_arguments, guarded, parse_params
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


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowem gather-flowdps", description=__doc__)
    parser.add_argument("shards", nargs="+", help="shard .npz files of flowem flowdps")
    parser.add_argument("--pixel-size", type=float, required=True, help="pixel size (A)")
    parser.add_argument("--out-dir", required=True)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    log = setup_logging(args.log)
    merged = read_shards(args.shards)
    out = Path(args.out_dir)
    for name in IMAGES:
        write_mrc(out / f"{name}.mrcs", np.nan_to_num(merged[name]), args.pixel_size)
    if "samples" in merged:
        samples = merged["samples"]
        write_mrc(
            out / "samples.mrcs",
            np.nan_to_num(samples.reshape(-1, *samples.shape[2:])),
            args.pixel_size,
        )
    table = pd.DataFrame(
        {
            "index": merged["indices"],
            "deviance_best": merged["deviance_best"],
            "deviance_mean": merged["deviance_mean"],
            "seconds": merged["seconds"],
            "status": merged["status"],
        }
    )
    write_table(out / "particles.csv", table)
    write_run_config(
        out, {"stage": "flowdps", "seed": args.seed, "params": params, "shards": args.shards}
    )
    log.info("%d particles, %d failed", len(table), int((table.status != "ok").sum()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
