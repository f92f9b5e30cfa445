"""The ``flowem`` command: one sub-command per stage module, imported only when used."""

from __future__ import annotations

import importlib
import sys

from flowem import __version__
from flowem.errors import FlowemError

#: sub-command -> module with ``main(argv) -> int``; rules call these.
COMMANDS: dict[str, tuple[str, str]] = {
    "fetch": (
        "flowem.fetch.command",
        "fetch data files (cache -> mirrors -> HTTPS) and verify them",
    ),
    "check-structure": ("flowem.data.structure", "centre an atomic model and summarise it"),
    "deform-structure": (
        "flowem.data.mismatch",
        "the mismatched test structure (ANM-deformed or another file)",
    ),
    "simulate-phase-maps": ("flowem.data.phase_maps", "exit-wave phase maps from an atomic model"),
    "simulate-particles": ("flowem.data.particles", "Poisson particle images of val/test maps"),
    "preprocess-particles": ("flowem.data.preprocess", "real particles: MRC + STAR to counts"),
    "calibrate-background": (
        "flowem.data.calibration",
        "simulated vs real particles: background spectrum, contrast",
    ),
    "train-prior": ("flowem.prior.train", "train a flow-matching prior (resumes)"),
    "sample-prior": ("flowem.prior.sample", "sample the prior and measure its quality"),
    "em-patches": ("flowem.restore.patches", "EM training / validation patches"),
    "restore": ("flowem.restore.run", "EM restoration tasks with the flow prior and baselines"),
    "restore-image": (
        "flowem.restore.user_image",
        "restore a user's own TIFF/MRC image with the EM prior (any size, range, pixel size)",
    ),
    "em-corpus": (
        "flowem.restore.corpus",
        "EM training patches across microscopes, balanced per data set (generalist prior)",
    ),
    "restore-generalist": (
        "flowem.restore.generalist",
        "the corpus prior restoring each EM data set (in-domain or left out)",
    ),
    "generalist-table": (
        "flowem.restore.generalist_table",
        "join restore-generalist runs into results/restore/generalist.json",
    ),
    "train-supervised": (
        "flowem.restore.supervised",
        "a supervised restoration network for one task (the prior's rival; resumes)",
    ),
    "flowdps": ("flowem.flowdps.run", "FlowDPS posterior sampling of one shard of particles"),
    "gather-flowdps": ("flowem.flowdps.gather", "join FlowDPS shards into one result folder"),
    "baseline": (
        "flowem.flowdps.baseline",
        "classical phase retrieval (wiener, iterative, poisson_tv)",
    ),
    "tune-retrieval": ("flowem.flowdps.tune", "tune a retrieval method on validation particles"),
    "evaluate-flowdps": ("flowem.flowdps.evaluate", "metrics, win rates and figures of FlowDPS"),
    "dose-curve": ("flowem.flowdps.dose", "FlowDPS and baselines against the electron dose"),
    "sip-fit": ("flowem.sip.fit", "SIP: particle Wasserstein gradient flow for one experiment"),
    "report": ("flowem.report.build", "build the run's summary page results/report/index.html"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: flowem <command> [options]   (flowem {__version__})", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "Run 'flowem <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if argv[0] == "--version":
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"flowem: error: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except FlowemError as exc:
        print(f"flowem: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
