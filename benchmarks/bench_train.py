"""Benchmark of the prior's training step, data loader, sampler and space-to-depth stem.

Writes JSON. Three measurements, each a ratio within this run (the machine is shared and noisy):

- ``stem``: images per second of the default phase network (``config/config.yaml``,
  ``prior.phase.train``: 64 x 64 with a space-to-depth stem) against the same network without
  the stem (``space_to_depth: 1``, the U-Net at 64 x 64), from interleaved training steps; then
  each network trains for the same wall-clock seconds (alternating steps, each charged only its
  own time, so drift in the load hits both alike) on simulated phase maps and is scored with
  ``energy_distance_ratio`` (128 samples, Euler, 25 steps, against 256 held-out maps). Target:
  the default network <= 3.
- ``loader_overhead_fraction``: the step with the real memory-mapped MRC loader against the same
  steps fed from in-memory arrays (median over alternating pairs of ``mapped / in-memory - 1``;
  target <= 0.05; ``loader_fraction_of_step`` is the loader's own share, free of the load's noise).
- ``sampling_seconds_per_image_per_step`` of the default network.

The phase maps are simulated here at the default geometry (``--structure``, 64 x 64 at 5.24 A/px;
~30 s) unless ``--train`` and ``--heldout`` name stacks.

    python benchmarks/bench_train.py [--out OUT.json] [--seconds S] [--train T --heldout H]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, report
from flowem.config import load_yaml
from flowem.data import phase_maps
from flowem.io import read_mrc, write_mrc
from flowem.prior.dataset import MrcImageStack, make_batch
from flowem.prior.distributed import World
from flowem.prior.network import count_parameters
from flowem.prior.quality import prior_quality
from flowem.prior.sample import generate
from flowem.prior.settings import SampleSettings, TrainSettings
from flowem.prior.solvers import euler
from flowem.prior.train import TrainPaths, build_state, optimisation_step

REPO = Path(__file__).resolve().parents[1]


def default_settings(config: Path) -> TrainSettings:
    return TrainSettings.from_params(load_yaml(config)["prior"]["phase"]["train"])


def simulate_maps(config: Path, structure: Path, outdir: Path) -> tuple[Path, Path]:
    """Training and held-out phase maps at the config's geometry, as the pipeline makes them."""
    params = {**phase_maps.DEFAULTS, **load_yaml(config)["phase_maps"], "n_val": 0, "n_test": 0}
    maps = phase_maps.run(params, structure, seed=0)
    paths = outdir / "train.mrcs", outdir / "heldout.mrcs"
    for path, split in zip(paths, ("train", "heldout"), strict=True):
        write_mrc(path, maps.maps[split], maps.pixel_size_a)
    return paths


def new_state(settings: TrainSettings, stack: MrcImageStack, scratch: Path, log):
    unused = scratch / "unused"  # build_state reads only the (absent) checkpoint
    paths = TrainPaths(stack.path, None, scratch / "absent.pt", unused, unused, unused)
    return build_state(settings, paths, stack, 0, World(), log)


def train_for(settings: dict[str, TrainSettings], stack, seconds: float, scratch: Path, log):
    """Train each network for ``seconds`` of its own step time, alternating steps."""
    states = {name: new_state(s, stack, scratch, log) for name, s in settings.items()}
    spent = dict.fromkeys(settings, 0.0)
    step_times: dict[str, list[float]] = {name: [] for name in settings}
    while min(spent.values()) < seconds:
        for name, state in states.items():
            if spent[name] >= seconds:
                continue
            s = settings[name]
            tic = time.perf_counter()
            batch = make_batch(stack, state.normaliser, s.batch_size, 0, state.step,
                               rotate=s.rotate)  # fmt: skip
            optimisation_step(state.net, state, batch, s.grad_clip, World(), use_bf16=False)
            step_times[name].append(time.perf_counter() - tic)
            spent[name] += step_times[name][-1]
    return states, step_times


def stem_comparison(settings: TrainSettings, stack, heldout, seconds: float, scratch: Path, log):
    no_stem = dataclasses.replace(settings.network, space_to_depth=1)
    variants = {"default": settings, "no_stem": dataclasses.replace(settings, network=no_stem)}
    states, step_times = train_for(variants, stack, seconds, scratch, log)
    sample = SampleSettings(n_samples=128, steps=25, batch_size=64)
    out = {}
    for name, state in states.items():
        net = state.ema.module.eval()
        run = generate(net, state.normaliser, sample, seed=0, device=torch.device("cpu"))
        times = step_times[name][3:]  # past the allocator's warm-up
        out[name] = {
            "space_to_depth": variants[name].network.space_to_depth,
            "parameters": count_parameters(state.net),
            "images_per_second": variants[name].batch_size / statistics.median(times),
            "steps_in_budget": state.step,
            "energy_distance_ratio": prior_quality(run.images, heldout, 0)["energy_distance_ratio"],
            "sampling_seconds_per_image_per_step": run.seconds_per_image_per_evaluation,
        }
    d, n = out["default"], out["no_stem"]
    return out | {
        "training_seconds_each": seconds,
        "images_per_second_ratio": d["images_per_second"] / n["images_per_second"],
        "sampling_speed_ratio": n["sampling_seconds_per_image_per_step"]
        / d["sampling_seconds_per_image_per_step"],
    }


def timed_step(state, settings: TrainSettings, source, step: int) -> float:
    tic = time.perf_counter()
    batch = make_batch(source, state.normaliser, settings.batch_size, seed=0, step=step)
    optimisation_step(state.net, state, batch, settings.grad_clip, World(), use_bf16=False)
    return time.perf_counter() - tic


def loader_overhead(settings: TrainSettings, stack, pairs: int, scratch: Path, log) -> dict:
    in_memory = np.asarray(stack.data, dtype=np.float32).copy()
    state = new_state(settings, stack, scratch, log)
    for step in range(3):  # warm-up: allocator, kernels, page cache
        timed_step(state, settings, stack, step)
    mapped, memory, step = [], [], 3
    for _ in range(pairs):  # alternated so drift in machine load hits both alike
        for times, source in ((mapped, stack), (memory, in_memory)):
            times.append(timed_step(state, settings, source, step))
            step += 1
    tic = time.perf_counter()
    for i in range(20):
        make_batch(stack, state.normaliser, settings.batch_size, seed=0, step=1000 + i)
    loader_seconds = (time.perf_counter() - tic) / 20
    t_mapped = statistics.median(mapped)
    net, size = state.net.eval(), settings.network.image_size
    x0 = torch.randn(settings.batch_size, 1, size, size)
    with torch.no_grad():
        euler(net, x0, 1)  # warm-up
        sample_seconds = best_of(lambda: euler(net, x0, 5), repeats=3)
    return {
        "step_seconds_mmap_loader": t_mapped,
        "step_seconds_in_memory": statistics.median(memory),
        # median over alternating pairs of (mapped / in-memory) - 1: drift cancels within a pair
        "loader_overhead_fraction": statistics.median(
            m / r for m, r in zip(mapped, memory, strict=True)
        )
        - 1,
        "loader_seconds_per_batch": loader_seconds,
        "loader_fraction_of_step": loader_seconds / t_mapped,
        "sampling_seconds_per_image_per_step": sample_seconds / (settings.batch_size * 5),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/bench/train.json", help="JSON to write")
    parser.add_argument("--config", default=str(REPO / "config/config.yaml"))
    parser.add_argument("--structure", default=str(REPO / "resources/pdb/3j9i.pdb"))
    parser.add_argument("--train", default=None, help="training stack (default: simulated)")
    parser.add_argument("--heldout", default=None, help="held-out stack (default: simulated)")
    parser.add_argument("--seconds", type=float, default=240.0, help="training time per network")
    parser.add_argument("--pairs", type=int, default=8, help="timed steps per loader")
    parser.add_argument("--threads", type=int, default=1, help="as the pipeline's rules")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = default_settings(Path(args.config))
    log = logging.getLogger("bench_train")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        if args.train and args.heldout:
            train, held = Path(args.train), Path(args.heldout)
        else:
            train, held = simulate_maps(Path(args.config), Path(args.structure), scratch)
        stack = MrcImageStack(train)
        heldout = read_mrc(held)[0]
        stem = stem_comparison(settings, stack, heldout, args.seconds, scratch, log)
        loader = loader_overhead(settings, stack, args.pairs, scratch, log)
        stack.close()
    result = {
        "image_size": settings.network.image_size,
        "batch_size": settings.batch_size,
        "threads": torch.get_num_threads(),
        "device": "cpu",
        "data": str(train) if args.train else f"simulated phase maps of {args.structure}",
        "stem": stem,
        "images_per_second": stem["default"]["images_per_second"],
        **loader,
    }
    report(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
