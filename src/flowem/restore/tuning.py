"""Per-task choice of each sampler's settings on validation images (like the baselines').

``score(settings)`` restores the validation measurements with those sampler settings and returns
their mean PSNR; :func:`tune_sampler` tries every point of a small grid over sampler fields
(``lr``, ``eta``, ``alpha``, ``steps``, ``dps_lr``) and keeps the best (the first on ties). The
test images are never seen: the grid and the validation PSNR of each point go into the run's
outputs.

The restoration table compares samplers, so each gets the same tuning budget: ``restore.tune``
holds one grid per sampler (``dc``, ``si``, ``pnp``, ``dps``) and every grid has the same
number of points (:func:`check_tune`). :func:`row_sampler` gives each sampler its own data
weight: ``si`` the supplement's ``lr t^alpha``, ``pnp`` PnP-Flow's ``lr (1 - t)^alpha``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from flowem.posterior import SamplerSettings
from flowem.posterior.settings import METHODS
from flowem.restore.baselines import grid_points
from flowem.settings import reject_unknown, require

TUNABLE = ("lr", "eta", "alpha", "steps", "dps_lr")
#: each update's own data-weight schedule (``dc`` has none; ``dps`` keeps the base sampler's)
SCHEDULES = {"si": "si", "pnp": "pnp"}


def row_sampler(base: SamplerSettings, method: str) -> SamplerSettings:
    """``base`` switched to ``method`` with that method's schedule."""
    return replace(base, method=method, schedule=SCHEDULES.get(method, base.schedule))


def check_grid(grid: dict[str, list], key: str = "restore.tune") -> None:
    reject_unknown(grid, TUNABLE, key)
    require(all(grid.values()), key, "every tuned field needs at least one value")


def grid_size(grid: dict[str, list]) -> int:
    return len(grid_points(grid))


def check_tune(tune: dict[str, dict[str, list]]) -> None:
    """``tune``: sampler -> grid; every grid valid and of the same size (the same budget)."""
    reject_unknown(tune, METHODS, "restore.tune")
    for method, grid in tune.items():
        require(isinstance(grid, dict), f"restore.tune.{method}", "must map fields to lists")
        check_grid(grid, f"restore.tune.{method}")
    sizes = {method: grid_size(grid) for method, grid in tune.items()}
    require(
        len(set(sizes.values())) <= 1,
        "restore.tune",
        f"every sampler needs the same number of grid points (the same budget), got {sizes}",
    )


def tune_sampler(
    score: Callable[[SamplerSettings], float], base: SamplerSettings, grid: dict[str, list]
) -> tuple[SamplerSettings, dict[str, Any]]:
    """The best settings of the grid by ``score`` and a record ``{params, val_psnr, trials}``."""
    check_grid(grid)
    trials = []
    for params in grid_points(grid):
        trials.append({"params": params, "val_psnr": float(score(replace(base, **params)))})
    # max keeps the first of ties; a diverged point (NaN) is never chosen
    best = max(trials, key=lambda trial: np.nan_to_num(trial["val_psnr"], nan=-np.inf))
    return replace(base, **best["params"]), {**best, "trials": trials}
