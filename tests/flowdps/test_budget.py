"""Equal compute budgets: FlowDPS's forward-model evaluations, and the iterative baselines'
iterations derived from them unless set explicitly."""

from __future__ import annotations

import pytest
import torch

from flowem.errors import ConfigError
from flowem.flowdps.budget import evaluations_of, flowdps_evaluations, resolve_evaluations
from flowem.flowdps.settings import baseline_settings
from flowem.physics.ctf import Optics
from flowem.physics.forward import MicroscopeForward
from flowem.retrieval import (
    IterativeSettings,
    PoissonTVSettings,
    iterative_phase_retrieval,
    poisson_tv,
)

FLOWDPS = {"samples": 4, "steps": 30, "dc_steps": 3, "step_size": 100.0}


def test_flowdps_count_is_samples_times_steps_times_likelihood_steps():
    assert flowdps_evaluations(FLOWDPS) == 4 * 30 * 3 == 360
    assert flowdps_evaluations({**FLOWDPS, "samples": 10, "dc_steps": 1}) == 300
    assert flowdps_evaluations({**FLOWDPS, "step_size": 0.0}) == 0  # prior sampling only
    assert flowdps_evaluations({}) == 360  # the section's defaults


def test_budget_key_resolves_or_is_a_clear_error():
    assert resolve_evaluations("flowdps", {**FLOWDPS, "steps": 10}) == 120
    assert resolve_evaluations(500, FLOWDPS) == 500
    assert resolve_evaluations(None, FLOWDPS) is None
    for bad in ("flowdp", 0, -3, 2.5, True):
        with pytest.raises(ConfigError, match=r"baselines\.evaluations"):
            resolve_evaluations(bad, FLOWDPS)


def test_derived_iterations_times_restarts_equal_the_flowdps_count():
    budget = resolve_evaluations("flowdps", FLOWDPS)
    for restarts in (1, 2, 4, 6):
        rrr = baseline_settings("iterative", {"restarts": restarts, "evaluations": budget})
        assert rrr.per_restart * rrr.restarts == budget == evaluations_of("iterative", rrr)
    tv = baseline_settings("poisson_tv", {"evaluations": budget})
    assert tv.max_evaluations == budget == evaluations_of("poisson_tv", tv)
    assert evaluations_of("wiener", {"snr": 1.0}) == 1


def test_an_explicit_iteration_count_overrides_the_budget():
    rrr = baseline_settings("iterative", {"iterations": 60, "restarts": 2, "evaluations": 360})
    assert rrr.per_restart == 60 and evaluations_of("iterative", rrr) == 120
    tv = baseline_settings("poisson_tv", {"iterations": 100, "evaluations": 360})
    assert tv.max_evaluations == 100


def test_more_restarts_than_evaluations_is_a_config_error():
    with pytest.raises(ConfigError, match=r"baselines\.iterative"):
        IterativeSettings(restarts=8, evaluations=4)


def _problem(count: int = 2):
    h = 32
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(h), indexing="ij")
    truth = torch.stack(
        [0.5 * torch.exp(-((yy - 15 - i) ** 2 + (xx - 16 + i) ** 2) / 6.0) for i in range(count)]
    ).double()
    op = MicroscopeForward(Optics(), (h, h), 5.24, 30.0, torch.linspace(15000.0, 25000.0, count))
    return truth, op, op.sample(truth, torch.Generator().manual_seed(0))


class CountingOperator(torch.nn.Module):
    """The operator with a count of its forward passes."""

    def __init__(self, op) -> None:
        super().__init__()
        self.op, self.calls = op, 0
        self.alpha, self.ctf = op.alpha, op.ctf
        self.padded_shape, self.image_shape = op.padded_shape, op.image_shape

    def forward(self, x):
        self.calls += 1
        return self.op(x)


def test_poisson_tv_spends_what_it_reports_and_stops_near_its_budget():
    _, op, y = _problem()
    for budget in (5, 40):
        counting, spent = CountingOperator(op), [0]
        poisson_tv(y, counting, PoissonTVSettings(tv_weight=0.01, evaluations=budget), spent)
        assert spent[0] == counting.calls  # one forward (+ its gradient) per evaluation
        assert spent[0] <= budget + 25  # L-BFGS checks after a line search (at most 25)
    counting, spent = CountingOperator(op), [0]
    poisson_tv(y, counting, PoissonTVSettings(tv_weight=0.01, evaluations=40), spent)
    assert spent[0] > 5  # a larger budget is used, not ignored


def test_rrr_reports_the_projections_it_ran():
    _, op, y = _problem()
    full = IterativeSettings(iterations=7, restarts=3, patience=None)
    result = iterative_phase_retrieval(y, op, full, torch.Generator().manual_seed(1))
    assert result.evaluations == 21 == evaluations_of("iterative", full)
    early = IterativeSettings(iterations=200, restarts=1, patience=3)
    result = iterative_phase_retrieval(y, op, early, torch.Generator().manual_seed(1))
    assert result.evaluations < 200  # patience stopped it after the best iterate
    assert len(result.history) == result.evaluations
