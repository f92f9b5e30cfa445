"""``flowem sip-fit``: one SIP experiment (1d, nanocluster or protein) with one loss.

Writes to ``--outdir`` (``results/sip/<experiment>/``): particles and histories (CSV), the
baseline's discrete states, figures, ``metrics.json`` and the resolved ``config.json``.
Energy distances in metrics are the squared ``D_E^2`` unbiased U-statistic of
:mod:`flowem.metrics.energy` (sets of any sizes from one law score 0 on average).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import torch

from flowem.command import command_parser, guarded, parse
from flowem.io import write_json
from flowem.runtime import setup_logging, write_run_config
from flowem.sip.run_1d import run_1d
from flowem.sip.run_images import run_images
from flowem.sip.settings import EXPERIMENTS, FlowSettings, settings_for

log = logging.getLogger("flowem")


def run(
    settings: FlowSettings,
    experiment: str,
    outdir: Path,
    seed: int,
    progress: bool = True,
    structure: str | None = None,
) -> dict[str, Any]:
    """Run ``experiment``; its particles, histories and figures go into ``outdir`` as they
    are made, and its metrics are returned."""
    outdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    log.info("sip-fit %s: %s", experiment, settings.to_dict())
    if experiment == "1d":
        return run_1d(settings, outdir, seed, progress)
    if experiment == "protein" and structure is None:
        from flowem.fetch import fetch

        structure = str(fetch(settings.structure))
    return run_images(experiment, settings, outdir, seed, progress, structure)


def _defaults(args: argparse.Namespace) -> dict[str, Any]:
    return settings_for(args.experiment, {}).to_dict()


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem sip-fit", __doc__, outdir="output folder (results/sip/<exp>)", threads=True
    )
    parser.add_argument("--experiment", required=True, choices=EXPERIMENTS)
    parser.add_argument(
        "--structure", default=None, help="protein: PDB file (default: fetch the params' structure)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    # small 1D tensors run far faster on one thread than on contended OpenMP pools; the
    # caller's thread count comes back afterwards
    threads = torch.get_num_threads()
    try:
        args, params = parse(parser, argv, _defaults)
        settings = settings_for(args.experiment, params)
        setup_logging(args.log)
        outdir = Path(args.outdir)
        progress = not args.no_progress
        metrics = run(settings, args.experiment, outdir, args.seed, progress, args.structure)
    finally:
        torch.set_num_threads(threads)
    write_json(outdir / "metrics.json", metrics)
    write_run_config(
        outdir, {"experiment": args.experiment, "seed": args.seed, **settings.to_dict()}
    )
    log.info("sip-fit %s: metrics %s", args.experiment, metrics)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
