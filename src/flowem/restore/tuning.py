"""Per-task choice of the flow sampler's settings on validation images (like the baselines').

``score(settings)`` restores the validation measurements with those sampler settings and returns
their mean PSNR; :func:`tune_sampler` tries every point of a small grid over sampler fields
(``lr``, ``eta``, ``alpha``, ``steps``) and keeps the best (the first on ties). The test images
are never seen: the grid and the validation PSNR of each point go into the run's outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flowem.posterior import SamplerSettings
from flowem.restore.baselines import grid_points
from flowem.settings import reject_unknown, require

TUNABLE = ("lr", "eta", "alpha", "steps")


def check_grid(grid: dict[str, list]) -> None:
    reject_unknown(grid, TUNABLE, "restore.tune")
    require(all(grid.values()), "restore.tune", "every tuned field needs at least one value")


def tune_sampler(
    score: Callable[[SamplerSettings], float], base: SamplerSettings, grid: dict[str, list]
) -> tuple[SamplerSettings, dict[str, Any]]:
    """The best settings of the grid by ``score`` and a record ``{params, val_psnr, trials}``."""
    check_grid(grid)
    trials = []
    for params in grid_points(grid):
        trials.append({"params": params, "val_psnr": float(score(replace(base, **params)))})
    best = max(trials, key=lambda trial: trial["val_psnr"])  # max keeps the first of ties
    return replace(base, **best["params"]), {**best, "trials": trials}
