"""``flowem fetch``: make data files available locally, verified (the fetch rules call this)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from flowem.command import command_parser, guarded, parse
from flowem.errors import FetchError
from flowem.fetch import DataFile, fetch, lookup
from flowem.runtime import setup_logging

#: keys of the ``data`` config section that fetch reads, with their defaults
DEFAULTS: dict[str, Any] = {
    "cache_dir": "resources",
    "mirrors": ["../shared/data"],  # the library's fetch() also reads $FLOWEM_MIRRORS
    "allow_network": True,
    "timeout_s": 30.0,
    "retries": 4,
    "url_rewrites": {},  # URL prefix -> replacement (a local server, a proxy)
    "urls": {},  # file id -> download URL, for files the registry has none for (or another)
}


def entry(settings: Mapping[str, Any], file_id: str) -> DataFile:
    """The registry entry of ``file_id``, its download URL replaced where ``urls`` names one
    (the registry's sha256 stays)."""
    known = lookup(file_id)
    url = settings["urls"].get(file_id)
    return known if url is None else replace(known, url=url, source=None)


def run(
    settings: Mapping[str, Any], ids: list[str], accept_restriction: bool = False
) -> list[Path]:
    """The verified local path of each registry id (cache, then mirrors, then HTTPS); a file
    with a licence restriction only with ``accept_restriction``."""
    return [
        fetch(
            entry(settings, file_id),
            mirrors=settings["mirrors"],
            cache_dir=Path(settings["cache_dir"]),
            allow_network=settings["allow_network"],
            timeout_s=settings["timeout_s"],
            retries=settings["retries"],
            url_rewrites=settings["url_rewrites"],
            accept_restriction=accept_restriction,
        )
        for file_id in ids
    ]


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem fetch", __doc__)
    parser.add_argument("ids", nargs="+", help="registry ids, e.g. pdb/3j9i.pdb")
    parser.add_argument(
        "--out",
        nargs="*",
        default=None,
        metavar="FILE",
        help="expected output paths (checked against the cache paths)",
    )
    args, params = parse(parser, argv, DEFAULTS)
    log = setup_logging(args.log)
    paths = run({**DEFAULTS, **params}, args.ids)
    if args.out is not None:
        for path, out in zip(paths, args.out, strict=True):
            if Path(out).absolute() != path.absolute():
                raise FetchError(f"{out}: fetch placed the file at {path}; the rule expects {out}")
    for path in paths:
        log.info("ready: %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
