"""Tuning the flow sampler on validation images: the grid's best point is chosen."""

from __future__ import annotations

import numpy as np
import pytest

from flowem.errors import ConfigError
from flowem.posterior import SamplerSettings
from flowem.restore.settings import RestoreSettings
from flowem.restore.tuning import row_sampler, tune_sampler


def test_tuning_picks_the_analytic_best_shrinkage():
    """Toy problem: x ~ N(0, 1), y = x + N(0, sigma^2); with ``lr`` as the assumed prior
    variance the estimate ``lr / (lr + sigma^2) y`` has least MSE at lr = 1 (Wiener)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200_000)
    sigma = 0.7
    y = x + sigma * rng.standard_normal(x.size)

    def score(settings: SamplerSettings) -> float:
        estimate = settings.lr / (settings.lr + sigma**2) * y
        return -10 * np.log10(np.mean((estimate - x) ** 2))

    grid = {"lr": [0.25, 0.5, 1.0, 2.0, 4.0], "eta": [1.0]}
    chosen, record = tune_sampler(score, SamplerSettings(method="dc"), grid)
    assert chosen.lr == 1.0 and chosen.method == "dc"
    assert record["params"] == {"eta": 1.0, "lr": 1.0}
    assert [trial["params"]["lr"] for trial in record["trials"]] == grid["lr"]
    assert record["val_psnr"] == max(trial["val_psnr"] for trial in record["trials"])


def test_ties_keep_the_first_point_and_unknown_fields_are_refused():
    chosen, _ = tune_sampler(lambda s: 1.0, SamplerSettings(), {"steps": [5, 10]})
    assert chosen.steps == 5
    diverged = lambda s: np.nan if s.lr < 1 else 10.0 / s.lr  # noqa: E731
    chosen, record = tune_sampler(diverged, SamplerSettings(), {"lr": [0.5, 2.0, 4.0]})
    assert chosen.lr == 2.0 and np.isnan(record["trials"][0]["val_psnr"])
    with pytest.raises(ConfigError):
        tune_sampler(lambda s: 1.0, SamplerSettings(), {"method": ["si"]})


def test_every_sampler_gets_a_grid_of_the_same_size():
    grid = {"lr": [0.5, 1.0, 2.0, 4.0]}
    settings = RestoreSettings(samplers=["dc", "si"], tune={"dc": grid, "si": grid})
    assert settings.flow_methods == ["dc", "si"]
    with pytest.raises(ConfigError, match="same number of grid points"):
        RestoreSettings(samplers=["dc", "si"], tune={"dc": grid, "si": {"lr": [1.0, 2.0]}})
    with pytest.raises(ConfigError, match="no grid for sampler 'pnp'"):
        RestoreSettings(samplers=["dc", "pnp"], tune={"dc": grid, "si": grid})
    with pytest.raises(ConfigError, match=r"restore\.tune\.dps"):
        RestoreSettings(samplers=["dc"], tune={"dc": grid, "dps": {"method": ["si"]}})
    assert RestoreSettings(samplers=[], tune={}).flow_methods == ["si"]  # the base sampler


def test_each_sampler_row_takes_its_own_schedule():
    base = SamplerSettings(method="dc", schedule="pnp", lr=2.0)
    assert row_sampler(base, "si").schedule == "si"  # the supplement's lr t^alpha
    assert row_sampler(base, "pnp").schedule == "pnp"  # PnP-Flow's lr (1 - t)^alpha
    assert row_sampler(base, "si").gamma(0.0) == 0.0 and row_sampler(base, "pnp").gamma(1.0) == 0
    assert row_sampler(base, "dc") == base and row_sampler(base, "si").lr == 2.0
