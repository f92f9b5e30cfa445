"""The one shape of a stage command, and its shared plumbing.

Each command's ``main(argv)`` builds its parser with :func:`command_parser`, reads the arguments
and the stage's parameters with :func:`parse` (``--params`` with every ``--override`` applied),
builds its settings, calls the module's ``run(settings, ...)``, which does the work and returns
a result, and writes that result. Outputs: ``--out FILE`` where a command writes one file,
``--outdir DIR`` where it writes a folder; a command whose outputs the rule names one by one
takes a flag per output, named after it (``--model``, ``--metrics``, ``--figure``).

``--override KEY=VALUE ...`` is how an ablation row (a ``Paramspace`` row of the workflow)
reaches a command: each dotted key replaces one parameter before the settings are built.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from flowem.errors import ConfigError, FlowemError


def command_parser(
    prog: str,
    description: str | None,
    *,
    out: str | None = None,
    outdir: str | None = None,
    threads: bool = False,
    tuned: bool = False,
) -> argparse.ArgumentParser:
    """The parser every command starts from; the command adds its own inputs to it.

    Always: ``--params`` (the stage's config section as JSON), ``--override KEY=VALUE ...``,
    ``--seed`` and ``--log``. ``out``/``outdir`` (their help texts) add a required ``--out FILE``
    or ``--outdir DIR``; ``threads`` adds ``--threads`` (CPU threads, the rule's ``threads:``);
    ``tuned`` adds ``--tuned FILE`` (the choice of ``tune-retrieval``, applied before overrides).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if out is not None:
        parser.add_argument("--out", required=True, metavar="FILE", help=out)
    if outdir is not None:
        parser.add_argument("--outdir", required=True, metavar="DIR", help=outdir)
    if threads:
        parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    if tuned:
        parser.add_argument(
            "--tuned",
            default=None,
            metavar="FILE",
            help="tuned hyperparameters (JSON of tune-retrieval); an override KEY=tuned keeps them",
        )
    parser.add_argument("--params", default="{}", help="stage parameters as a JSON object")
    parser.add_argument(
        "--override",
        nargs="+",
        action="extend",
        default=[],
        type=parse_override,
        metavar="KEY=VALUE",
        help="replace one parameter of --params (dotted key; the value is read as YAML)",
    )
    parser.add_argument("--seed", type=int, default=0, help="base random seed")
    parser.add_argument("--log", default=None, help="log file (the rule's log:)")
    return parser


def parse(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    defaults: Mapping[str, Any] | Callable[[argparse.Namespace], Mapping[str, Any]] | None = None,
) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The arguments and the stage's parameters: ``--params``, then the ``--tuned`` choice
    (where the parser has it), then each ``--override``.

    ``defaults`` (the stage's defaults, or a function of the arguments giving them) are keys an
    override may set where ``--params`` leaves them out. ``--threads`` applies to torch.
    """
    args = parser.parse_args(argv)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    params, overrides = parse_params(args.params), args.override
    if hasattr(args, "tuned"):
        from flowem.io.tables import read_json

        if args.tuned is not None:
            params = {**params, **read_json(args.tuned).get("chosen", {})}
        # an ablation row's "tuned" cell keeps the tuned value (or, untuned, the configured one)
        overrides = [(key, value) for key, value in overrides if value != "tuned"]
    if callable(defaults):
        defaults = defaults(args)
    return args, apply_overrides(params, overrides, defaults)


def parse_params(text: str) -> dict[str, Any]:
    """Parse the ``--params`` JSON; anything but a JSON object is a :class:`ConfigError`."""
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--params is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError("--params must be a JSON object")
    return params


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(KEY, value)``; the value is read as YAML, as ``snakemake --config``
    reads it (``0.5`` a number, ``false`` a boolean, ``{}`` a mapping, ``dc`` a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (KEY may be dotted: a.b)")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError:
        return key, value


def apply_overrides(
    params: Mapping[str, Any],
    overrides: Iterable[tuple[str, Any]],
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of ``params`` with each ``(dotted key, value)`` set, in order.

    A key must name a parameter of ``params`` (or of ``defaults``): anything else is a
    :class:`ConfigError` naming it. An integer replacing a float becomes a float.
    """
    out = copy.deepcopy(dict(params))
    for key, value in overrides:
        node: dict[str, Any] = out
        known: Mapping[str, Any] = defaults or {}
        *sections, leaf = key.split(".")
        for depth, part in enumerate(sections):
            if not isinstance(node.get(part), dict):
                if not isinstance(known.get(part), Mapping):
                    where = ".".join(sections[: depth + 1])
                    raise ConfigError(f"--override {key}: '{where}' is not a parameter section")
                node[part] = copy.deepcopy(dict(known[part]))
            node = node[part]
            known = known.get(part) if isinstance(known.get(part), Mapping) else {}
        if leaf not in node and leaf not in known:
            choices = ", ".join(sorted({*node, *known})) or "none"
            raise ConfigError(f"--override: unknown parameter '{key}'; known here: {choices}")
        current = node.get(leaf, known.get(leaf))
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        node[leaf] = value
    return out


def guarded(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Turn a :class:`FlowemError` into one clear line on stderr and exit status 1.

    The line (or, for an unexpected exception, its traceback) also goes to the command's
    ``--log`` file, the rule's ``log:``, which would otherwise stay empty on failure.
    """

    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except FlowemError as exc:
            print(f"flowem: error: {exc}", file=sys.stderr)
            _append_to_log(argv, f"flowem: error: {exc}")
            return 1
        except Exception:
            _append_to_log(argv, traceback.format_exc())
            raise

    wrapper.__name__ = main.__name__
    wrapper.__doc__ = main.__doc__
    return wrapper


def _append_to_log(argv: list[str] | None, text: str) -> None:
    """Append ``text`` to the ``--log`` file of ``argv`` (read without the parser, which may be
    what failed); a log that cannot be written must not hide the error itself."""
    args = sys.argv[1:] if argv is None else argv
    path = next((value for flag, value in itertools.pairwise(args) if flag == "--log"), None)
    path = next((a.split("=", 1)[1] for a in args if a.startswith("--log=")), path)
    if not path:
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(text.rstrip("\n") + "\n")
    except OSError:
        pass
