"""Stage commands' shared front end: arguments, defaults merged with ``--params``, checks."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from flowem.command import add_common_arguments, parse_params
from flowem.errors import ConfigError


def stage_parser(prog: str, description: str | None, inputs: Mapping[str, str]):
    """Parser with the required input options ``inputs`` ({flag: help}), ``--out-dir``,
    ``--figure`` (optional montage), ``--threads`` and the common ``--params/--seed/--log``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for flag, text in inputs.items():
        parser.add_argument(flag, required=True, help=text)
    parser.add_argument("--out-dir", required=True, help="output folder")
    parser.add_argument("--figure", default=None, help="optional montage (PNG)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (rule's threads:)")
    add_common_arguments(parser)
    return parser


def parse_stage(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    defaults: Mapping[str, Any],
    stage: str,
) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Parse ``argv``, apply ``--threads`` to torch and resolve the stage's parameters."""
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return args, resolve_params(parse_params(args.params), defaults, stage)


def resolve_params(
    params: Mapping[str, Any], defaults: Mapping[str, Any], stage: str
) -> dict[str, Any]:
    """``defaults`` overridden by ``params``; a key not in ``defaults`` is a ConfigError."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ConfigError(
            f"{stage}: unknown parameter(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(defaults))}"
        )
    return {**defaults, **params}


def require_positive(params: Mapping[str, Any], stage: str, *keys: str) -> None:
    """Raise :class:`ConfigError` unless every ``params[key]`` is a number > 0."""
    for key in keys:
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{stage}: parameter '{key}' must be > 0, got {value!r}")
