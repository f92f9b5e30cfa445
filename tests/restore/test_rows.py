"""The restoration table's rows on a toy problem whose posterior mean is known.

Clean crops are i.i.d. ``N(0, s^2)`` pixels and the prior is that Gaussian's exact flow
(:class:`~flowem.prior.analytic.GaussianPriorVelocity`), so for denoising the posterior mean is
``s^2 / (s^2 + sigma^2) y``: no restorer can beat it on average, and the mean of ``k`` exact
posterior samples loses ``10 log10(1 + 1/k)`` dB to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from flowem.metrics import psnr, reference_range
from flowem.prior.analytic import GaussianPriorVelocity
from flowem.restore.crops import cut_crops
from flowem.restore.run import run_task
from flowem.restore.sampling import DIFFUSION, SUPERVISED, Restorer, Rivals
from flowem.restore.settings import RestoreSettings
from flowem.restore.tasks import make_task

S, SIGMA, K = 0.3, 0.2, 8
GRID = {"lr": [0.1, 0.3, 1.0, 3.0]}


@dataclass
class AnalyticPrior:
    """The Gaussian flow with the attributes a restorer needs of a prior."""

    velocity: GaussianPriorVelocity
    patch: int = 16
    scale: float = 1.0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.velocity(x, t)


@dataclass
class PosteriorMean:
    """A stand-in supervised network: the exact posterior mean of the denoising task."""

    task: str = "denoise"

    def restore(self, y: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
        return (S**2 / (S**2 + SIGMA**2) * y[:, 0]).numpy()


@pytest.fixture(scope="module")
def toy():
    volume = np.random.default_rng(0).normal(0, S, (4, 64, 64)).astype(np.float32)
    test, val = cut_crops(volume, [2, 3], 16, 4), cut_crops(volume, [0, 1], 16, 2)
    settings = RestoreSettings(
        tasks=["denoise"],
        samplers=["dc", "si", "pnp"],
        crop=16,
        samples_per_image=K,
        sampler={"steps": 20, "dps_steps": 40},
        tune={"dc": GRID, "si": GRID, "pnp": GRID, "dps": {"dps_lr": [0.1, 0.3, 1.0, 3.0]}},
        niqe_slices=[],
        degradation={"denoise_sigma": SIGMA},
    )
    restorer = Restorer(AnalyticPrior(GaussianPriorVelocity(0.0, S)), 0, torch.device("cpu"))
    rivals = Rivals(diffusion=restorer, supervised={"denoise": PosteriorMean()})
    result = run_task(0, "denoise", restorer, rivals, test, val, settings, 4.0, None)
    y = restorer.measure(make_task("denoise", settings.degradation), test.images, 0)
    mean = PosteriorMean().restore(y, (16, 16))
    exact = np.mean(
        [psnr(t, m, reference_range(t)) for t, m in zip(test.images, mean, strict=True)]
    )
    return result, exact, len(test)


def test_rows_are_named_by_the_contract(toy):
    result, _, n = toy
    flows = {"flow_dc", "flow_si", "flow_pnp"}
    assert set(result.scores) == flows | {SUPERVISED, DIFFUSION} | {"nl_means", "tv", "wavelet"}
    assert result.flow_row in flows  # the best flow row on the validation crops
    assert result.flow_row == max(flows, key=lambda r: result.chosen[r]["val_psnr"])
    for row, scores in result.scores.items():
        assert scores["n"] == n and len(scores["ci"]["psnr"]) == 2
        assert scores["ci"]["psnr"][0] < scores["psnr"] < scores["ci"]["psnr"][1]
        assert ("paired" in scores) == (row != result.flow_row)
    assert set(result.per_crop["method"]) == set(result.scores)
    assert len(result.per_crop) == n * len(result.scores)


def test_every_sampled_row_gets_the_same_tuning_budget(toy):
    result, _, _ = toy
    trials = {row: len(result.chosen[row]["trials"]) for row in ("flow_dc", "flow_si", "flow_pnp")}
    assert set(trials.values()) == {4} and len(result.chosen[DIFFUSION]["trials"]) == 4


def test_the_flow_row_nears_the_posterior_mean_and_beats_a_poor_baseline(toy):
    result, exact, _ = toy
    assert result.scores[SUPERVISED]["psnr"] == pytest.approx(exact)
    best = result.scores[result.flow_row]["psnr"]
    # the mean of K samples: at most the posterior mean, at least K samples' worth below it
    assert exact - 10 * np.log10(1 + 1 / K) - 0.3 < best < exact + 0.05
    paired = result.scores["nl_means"]["paired"]
    assert paired["reference"] == result.flow_row and paired["psnr"]["ci"][1] < 0
    # the supervised stand-in is the posterior mean: paired, it beats the flow row
    assert result.scores[SUPERVISED]["paired"]["psnr"]["ci"][0] > 0
