"""SIP stage: convergence and cost of the particle flows, against references in the same run.

- ``w1_target``: iterations and seconds (flow only) for 10^4 particles to reach W1 < 0.2 in the
  1D experiment at sigma = 1.5, for the energy and KL losses (null: not within the cap).
- ``sorted_vs_pairwise_ratio``: seconds of the chunked pairwise 1D energy distance over the
  O(N log N) sorted one, N = M = 10^4, forward + backward.
- ``nanocluster_seconds_per_iteration``: one flow iteration at the default profile's sizes
  (200 particles, 200-image minibatch, 128 x 128) and at the paper's (1000 x 1000).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from scipy.stats import wasserstein_distance

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, parse_out, report
from flowem.runtime import rng, torch_generator
from flowem.sip.experiments import INITIAL_1D, TRUE_1D, TRUE_NANOCLUSTER
from flowem.sip.flow import run_flow
from flowem.sip.forward_1d import AdditiveNoise
from flowem.sip.losses import energy_distance_pairwise, energy_distance_sorted, make_loss
from flowem.sip.nanocluster import NanoclusterRenderer

N = 10_000
MAX_ITERATIONS = 8000


def w1_target(loss: str, lr: float) -> dict:
    torch.set_num_threads(1)
    forward = AdditiveNoise(1.5)
    truth = torch.as_tensor(TRUE_1D.sample(N, rng(0, 1)), dtype=torch.float32)
    observed = forward(truth, torch_generator(0, 2))
    initial = torch.as_tensor(INITIAL_1D.sample(N, rng(0, 3)), dtype=torch.float32)
    reference = TRUE_1D.sample(100_000, rng(0, 5))[:, 0]
    result = run_flow(
        initial, forward, observed, make_loss(loss), lr=lr, iterations=MAX_ITERATIONS,
        generator=torch_generator(0, 4), log_every=1000, check_every=50, progress=False,
        monitor=lambda th: {"w1": wasserstein_distance(th.numpy().ravel(), reference)},
        stop=lambda rec: rec["w1"] < 0.2,
    )  # fmt: skip
    last = result.history[-1]
    hit = result.stopped_at is not None
    return {
        "lr": lr,
        "iterations": result.stopped_at,
        "seconds": round(last["seconds"], 2) if hit else None,
        "final_w1": round(last["w1"], 4),
        "seconds_per_iteration": round(last["seconds"] / last["iterations"], 5),
    }


def sorted_vs_pairwise() -> dict:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(N, 1, generator=gen), torch.randn(N, 1, generator=gen) + 0.5

    def timed(fn):
        def call():
            xx = x.clone().requires_grad_(True)
            fn(xx, y).backward()

        return best_of(call, 3)

    t_sorted = timed(energy_distance_sorted)
    t_pair = timed(lambda a, b: energy_distance_pairwise(a, b, chunk_size=1024))
    return {
        "sorted_seconds": round(t_sorted, 5),
        "pairwise_seconds": round(t_pair, 4),
        "sorted_vs_pairwise_ratio": round(t_pair / t_sorted, 1),
    }


def nanocluster_iteration(n_particles: int, batch: int, threads: int) -> float:
    torch.set_num_threads(threads)
    renderer = NanoclusterRenderer(0.5, 1.5, 128)
    gen = torch_generator(0, 1)
    observed = renderer(torch.as_tensor(TRUE_NANOCLUSTER.sample(1000, rng(0, 2))).float(), gen)
    particles = torch.full((n_particles, 2), 4.0)

    def one():
        run_flow(particles, renderer, observed, make_loss("energy"), lr=0.02, iterations=1,
                 generator=gen, batch_size=batch, progress=False)  # fmt: skip

    return round(best_of(one, 3), 3)


def main() -> None:
    out = parse_out("results/bench/sip.json")
    threads = torch.get_num_threads()
    results = {"w1_target_sigma_1.5": {"energy": w1_target("energy", 0.01)}}
    results["w1_target_sigma_1.5"]["kl"] = w1_target("kl", 0.01)
    results.update(sorted_vs_pairwise())
    results["nanocluster_seconds_per_iteration"] = {
        "default_200x200": nanocluster_iteration(200, 200, threads),
        "paper_1000x1000": nanocluster_iteration(1000, None, threads),
        "threads": threads,
    }
    report(out, results)


if __name__ == "__main__":
    main()
