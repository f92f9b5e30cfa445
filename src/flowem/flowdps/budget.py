"""Equal compute budgets: forward-model evaluations per particle (no torch: Snakemake reads it).

One *evaluation* is one pass through the microscope model and back: a forward pass with its
adjoint (the gradient of the likelihood, in FlowDPS and Poisson+TV) or one measurement
projection of RRR/HIO (propagate the exit wave to the image plane, fix the modulus, propagate
back). FlowDPS spends ``samples x steps x dc_steps`` of them per particle (4 x 30 x 3 = 360 by
default: ``dc_steps`` likelihood gradients at each of the ``steps`` time steps of each of the
``samples`` samples; with ``step_size = 0`` none). Forward-only passes that only monitor a
residual (FlowDPS's deviances of its samples and mean, RRR's deviance of each iterate for the
kept-iterate choice) are not counted for any method.

The iterative baselines get the same count unless their ``iterations`` is set: the workflow
fills their settings' ``evaluations`` from ``baselines.evaluations`` (``flowdps``, the default:
the count above), RRR then runs ``evaluations // restarts`` iterations per restart
(:class:`~flowem.retrieval.IterativeSettings`) and Poisson+TV's L-BFGS may spend
``evaluations`` objective-and-gradient evaluations, line search included
(:class:`~flowem.retrieval.PoissonTVSettings`). The budget is a cap: RRR's ``patience`` stops
a restart early and L-BFGS stops at convergence; ``forward_evaluations`` in the result tables
is what each particle spent. The Wiener filter is one linear pass (1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowem.errors import ConfigError

#: the ``flowdps`` keys (and defaults) the count depends on
FLOWDPS_KEYS = {"samples": 4, "steps": 30, "dc_steps": 3, "step_size": 1.0}


def flowdps_evaluations(section: Mapping[str, Any]) -> int:
    """Forward-model evaluations per particle of FlowDPS with the ``flowdps`` ``section``."""
    values = {key: section.get(key, default) for key, default in FLOWDPS_KEYS.items()}
    if not values["step_size"] > 0:
        return 0
    return int(values["samples"]) * int(values["steps"]) * int(values["dc_steps"])


def resolve_evaluations(value: Any, flowdps_section: Mapping[str, Any]) -> int | None:
    """``baselines.evaluations``: ``"flowdps"`` -> FlowDPS's count, a positive integer as is,
    None (no budget: every method's ``iterations`` must be set)."""
    if value is None:
        return None
    if value == "flowdps":
        return flowdps_evaluations(flowdps_section)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"baselines.evaluations must be 'flowdps', a positive integer or null, got {value!r}"
        )
    return value


def evaluations_of(method: str, settings: Any) -> int:
    """Budgeted (at most) forward-model evaluations per particle of baseline ``settings``
    (the commands record the number spent: RRR stops early with ``patience``)."""
    if method == "wiener":
        return 1
    if method == "iterative":
        return int(settings.per_restart) * int(settings.restarts)
    if method == "poisson_tv":
        return int(settings.max_evaluations)
    raise ConfigError(f"unknown baseline method {method!r}")
