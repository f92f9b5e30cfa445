"""``flowem fetch``: make data files available locally, verified (the fetch rules call this)."""

from __future__ import annotations

import argparse
from pathlib import Path

from flowem.command import add_common_arguments, guarded, parse_params
from flowem.errors import FetchError
from flowem.fetch import fetch
from flowem.runtime import setup_logging


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowem fetch", description=__doc__)
    parser.add_argument("ids", nargs="+", help="registry ids, e.g. pdb/3j9i.pdb")
    parser.add_argument(
        "--out",
        nargs="*",
        default=None,
        help="expected output paths (checked against the cache paths)",
    )
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    log = setup_logging(args.log)
    cache_dir = Path(params.get("cache_dir", "resources"))
    paths = [
        fetch(
            file_id,
            mirrors=params.get("mirrors"),
            cache_dir=cache_dir,
            allow_network=params.get("allow_network", True),
            timeout_s=params.get("timeout_s", 30.0),
            retries=params.get("retries", 4),
        )
        for file_id in args.ids
    ]
    if args.out is not None:
        for path, out in zip(paths, args.out, strict=True):
            if Path(out).absolute() != path.absolute():
                raise FetchError(f"{out}: fetch placed the file at {path}; the rule expects {out}")
    for path in paths:
        log.info("ready: %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
