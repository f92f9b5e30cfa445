"""``flowem sip-fit``: one SIP experiment (1d, nanocluster or protein) with one loss.

Writes to ``--outdir`` (``results/sip/<experiment>/``): particles and histories (CSV), the
baseline's discrete states, figures, ``metrics.json`` and the resolved ``config.json``.
Energy distances in metrics are the squared ``D_E^2`` V-statistic of :mod:`flowem.sip.losses`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from flowem.command import add_common_arguments, guarded, parse_params
from flowem.io import write_json
from flowem.runtime import setup_logging, write_run_config
from flowem.sip.losses import LOSS_NAMES
from flowem.sip.run_1d import run_1d
from flowem.sip.run_images import run_images
from flowem.sip.settings import EXPERIMENTS, FlowSettings, settings_for


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowem sip-fit", description=__doc__)
    parser.add_argument("--experiment", required=True, choices=EXPERIMENTS)
    parser.add_argument(
        "--loss",
        choices=LOSS_NAMES,
        default=None,
        help="override params' loss (1d: run only this loss)",
    )
    parser.add_argument("--outdir", required=True, help="output folder (results/sip/<exp>)")
    parser.add_argument(
        "--structure", default=None, help="protein: PDB file (default: fetch the params' structure)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    if args.loss is not None:
        params["losses" if args.experiment == "1d" else "loss"] = (
            [args.loss] if args.experiment == "1d" else args.loss
        )
    settings = settings_for(args.experiment, params)
    log = setup_logging(args.log)
    torch.manual_seed(args.seed)
    threads = torch.get_num_threads()
    if args.threads:
        # small 1D tensors run far faster on one thread than on contended OpenMP pools
        torch.set_num_threads(args.threads)
    try:
        _run(args, settings, log)
    finally:
        torch.set_num_threads(threads)
    return 0


def _run(args: argparse.Namespace, settings: FlowSettings, log) -> None:
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    log.info("sip-fit %s: %s", args.experiment, settings.to_dict())
    if args.experiment == "1d":
        metrics = run_1d(settings, outdir, args.seed, progress)
    else:
        structure = args.structure
        if args.experiment == "protein" and structure is None:
            from flowem.fetch import fetch

            structure = str(fetch(settings.structure))
        metrics = run_images(args.experiment, settings, outdir, args.seed, progress, structure)
    write_json(outdir / "metrics.json", metrics)
    write_run_config(
        outdir, {"experiment": args.experiment, "seed": args.seed, **settings.to_dict()}
    )
    log.info("sip-fit %s: metrics %s", args.experiment, metrics)


if __name__ == "__main__":
    raise SystemExit(main())
