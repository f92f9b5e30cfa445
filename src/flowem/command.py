"""Shared plumbing of the stage commands: common arguments and error handling."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from flowem.errors import ConfigError, FlowemError


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--params`` (the stage's config section as JSON), ``--seed`` and ``--log``."""
    parser.add_argument("--params", default="{}", help="stage parameters as a JSON object")
    parser.add_argument("--seed", type=int, default=0, help="base random seed")
    parser.add_argument("--log", default=None, help="log file (the rule's log:)")


def parse_params(text: str) -> dict[str, Any]:
    """Parse the ``--params`` JSON; anything but a JSON object is a :class:`ConfigError`."""
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--params is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError("--params must be a JSON object")
    return params


def guarded(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Turn a :class:`FlowemError` into one clear line on stderr and exit status 1."""

    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except FlowemError as exc:
            print(f"flowem: error: {exc}", file=sys.stderr)
            return 1

    wrapper.__name__ = main.__name__
    wrapper.__doc__ = main.__doc__
    return wrapper
