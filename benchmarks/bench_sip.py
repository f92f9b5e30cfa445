"""SIP stage: convergence and cost of the particle flows, against references in the same run.

- ``w1_target``: iterations and seconds (flow only) for 10^4 particles to reach W1 < 0.2 in the
  1D experiment at sigma = 1.5, for the energy and KL losses (null: not within the cap): the
  pipeline's sigma sweep (``sweep_1d``, default settings) at that sigma alone.
- ``sorted_vs_pairwise_ratio``: seconds of the chunked pairwise 1D energy distance over the
  O(N log N) sorted one, N = M = 10^4, forward + backward; ``against_vs_concatenated_ratio``:
  the previous sorted estimator (sorting the concatenation every call, autograd through the
  sorts) over the flow's one (observed set sorted once, ``searchsorted``, analytic gradient).
- ``nanocluster_seconds_per_iteration``: one flow iteration (the observed set's terms
  excluded) at the default profile's sizes (64 particles, 128-image minibatch, 128 x 128) and
  at the paper's (1000 particles against all 1000 images).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, parse_out, report
from flowem.metrics.energy import energy_distance_pairwise, energy_distance_sorted
from flowem.runtime import rng, torch_generator
from flowem.sip.experiments import TRUE_NANOCLUSTER
from flowem.sip.flow import run_flow
from flowem.sip.losses import make_loss
from flowem.sip.nanocluster import NanoclusterRenderer
from flowem.sip.run_1d import sweep_1d
from flowem.sip.settings import OneDSettings

N = 10_000
MAX_ITERATIONS = 8000


def w1_target() -> dict:
    """The pipeline's sigma sweep at sigma = 1.5 alone, capped at ``MAX_ITERATIONS``."""
    torch.set_num_threads(1)
    settings = OneDSettings(sweep_sigmas=[1.5], sweep_max_iterations=MAX_ITERATIONS)
    rows = sweep_1d(settings, seed=0, progress=False)
    return {row["loss"]: {**row, "lr": settings.sweep_lr} for row in rows}


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
    t_concatenated = timed(_energy_concatenated_sort)
    against = make_loss("energy").against(y)
    t_against = timed(lambda a, b: against(a))
    return {
        "sorted_seconds": round(t_sorted, 5),
        "pairwise_seconds": round(t_pair, 4),
        "sorted_vs_pairwise_ratio": round(t_pair / t_sorted, 1),
        "concatenated_sort_seconds": round(t_concatenated, 5),
        "against_seconds": round(t_against, 5),
        "against_vs_concatenated_ratio": round(t_concatenated / t_against, 2),
    }


def _energy_concatenated_sort(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The previous 1D estimator: three sorts per call, autograd through them."""

    def pair_sum(v):
        s = torch.sort(v)[0]
        return ((2.0 * torch.arange(len(s), dtype=s.dtype) - (len(s) - 1)) * s).sum()

    x, y = x.reshape(-1), y.reshape(-1)
    n, m = len(x), len(y)
    sxx, syy = pair_sum(x), pair_sum(y)
    cross = pair_sum(torch.cat([x, y])) - sxx - syy
    return 2.0 * cross / (n * m) - 2.0 * sxx / n**2 - 2.0 * syy / m**2


def nanocluster_iteration(n_particles: int, batch: int | None, threads: int) -> float:
    """Seconds per flow iteration (best of 2 runs; the observed set's own terms excluded)."""
    torch.set_num_threads(threads)
    renderer = NanoclusterRenderer(0.5, 1.5, 128)
    gen = torch_generator(0, 1)
    observed = renderer(torch.as_tensor(TRUE_NANOCLUSTER.sample(1000, rng(0, 2))).float(), gen)
    particles = torch.full((n_particles, 2), 4.0)
    iterations = 20 if n_particles < 500 else 2
    runs = [
        run_flow(particles, renderer, observed, make_loss("energy"), lr=0.02,
                 iterations=iterations, generator=gen, batch_size=batch, progress=False)
        for _ in range(2)
    ]  # fmt: skip
    return round(min(r.seconds for r in runs) / iterations, 4)


def main() -> None:
    out = parse_out("results/bench/sip.json")
    threads = torch.get_num_threads()
    results = {"w1_target_sigma_1.5": w1_target()}
    results.update(sorted_vs_pairwise())
    results["nanocluster_seconds_per_iteration"] = {
        "default_64x128": nanocluster_iteration(64, 128, threads),
        "paper_1000x1000": nanocluster_iteration(1000, None, threads),
        "threads": threads,
    }
    report(out, results)


if __name__ == "__main__":
    main()
