"""Benchmark of the prior's training step, data loader and sampler; prints and writes JSON.

``loader_overhead_fraction`` compares, in the same run and with interleaved rounds, the step
time with the real memory-mapped MRC loader against the same steps fed from in-memory arrays
(batches are identical: they depend only on seed and step): the median over alternating pairs of
``mapped / in-memory - 1``. Target <= 0.05. On a machine shared with other jobs that figure
carries the load's noise, so the loader's own time per batch is reported too
(``loader_fraction_of_step``).

    python benchmarks/bench_train.py [--out OUT.json] [--train STACK.mrcs] [--params JSON]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import mrcfile
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, report
from flowem.prior.dataset import MrcImageStack, Normaliser, make_batch
from flowem.prior.network import VelocityNet, count_parameters
from flowem.prior.path import cfm_loss
from flowem.prior.settings import TrainSettings
from flowem.prior.solvers import euler


def synthetic_stack(path: Path, count: int, size: int) -> Path:
    """Random smooth blobs, only so the benchmark runs without pipeline outputs."""
    gen = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    centres = gen.uniform(size / 4, 3 * size / 4, (count, 2))
    images = np.exp(
        -((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / (size / 4)
    )
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(images.astype(np.float32))
        mrc.voxel_size = 1.0
    return path


def timed_step(net, optimizer, source, normaliser, batch_size: int, step: int) -> float:
    tic = time.perf_counter()
    batch = make_batch(source, normaliser, batch_size, seed=0, step=step)
    loss = cfm_loss(net, batch.x1, batch.x0, batch.t)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    optimizer.step()
    return time.perf_counter() - tic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/bench/train.json", help="JSON to write")
    parser.add_argument("--train", default=None, help="MRC stack (default: synthetic)")
    parser.add_argument("--params", default="{}", help="train_prior parameters as JSON")
    parser.add_argument("--pairs", type=int, default=12, help="timed steps per loader")
    parser.add_argument("--sample-steps", type=int, default=5)
    args = parser.parse_args(argv)
    settings = TrainSettings.from_params(json.loads(args.params))
    size, batch_size = settings.network.image_size, settings.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.train) if args.train else synthetic_stack(Path(tmp) / "s.mrcs", 4096, size)
        stack = MrcImageStack(path)
        in_memory = np.asarray(stack.data, dtype=np.float32).copy()
        normaliser = Normaliser(stack.std())
        torch.manual_seed(0)
        net = VelocityNet(settings.network).train()
        optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
        for step in range(3):  # warm-up: allocator, kernels, page cache
            timed_step(net, optimizer, stack, normaliser, batch_size, step)
        mapped, memory, step = [], [], 3
        for _ in range(args.pairs):  # alternated so drift in machine load hits both alike
            for times, source in ((mapped, stack), (memory, in_memory)):
                times.append(timed_step(net, optimizer, source, normaliser, batch_size, step))
                step += 1
        tic = time.perf_counter()
        for i in range(20):
            make_batch(stack, normaliser, batch_size, seed=0, step=1000 + i)
        loader_seconds = (time.perf_counter() - tic) / 20
        net.eval()
        x0 = torch.randn(batch_size, 1, size, size)
        with torch.no_grad():
            euler(net, x0, 1)  # warm-up
            sample_seconds = best_of(lambda: euler(net, x0, args.sample_steps), repeats=3)
        stack.close()
    t_mapped, t_memory = statistics.median(mapped), statistics.median(memory)
    # median over alternating pairs of (mapped / in-memory) - 1: drift cancels within a pair
    paired_overhead = statistics.median(m / r for m, r in zip(mapped, memory, strict=True)) - 1
    result = {
        "image_size": size,
        "batch_size": batch_size,
        "parameters": count_parameters(net),
        "threads": torch.get_num_threads(),
        "device": "cpu",
        "data": str(args.train) if args.train else "synthetic blobs",
        "step_seconds_mmap_loader": t_mapped,
        "step_seconds_in_memory": t_memory,
        "images_per_second": batch_size / t_mapped,
        "loader_overhead_fraction": paired_overhead,
        "loader_seconds_per_batch": loader_seconds,
        "loader_fraction_of_step": loader_seconds / t_mapped,
        "sampling_seconds_per_image_per_step": sample_seconds / (batch_size * args.sample_steps),
    }
    report(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
