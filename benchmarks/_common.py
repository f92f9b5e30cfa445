"""Shared helpers of the benchmarks: timing, peak memory and writing the JSON report."""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path


def parse_out(default: str) -> Path:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=default, help="JSON file to write")
    return Path(parser.parse_args().out)


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best wall time (seconds) of ``repeats`` calls: the least noisy estimate."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(out: Path, results: dict) -> None:
    """Print the results as JSON and write them to ``out``."""
    results = {**results, "peak_rss_mb": round(peak_rss_mb(), 1)}
    text = json.dumps(results, indent=2)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
