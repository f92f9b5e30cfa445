"""Parameters of the FlowDPS stage (``flowdps``, ``baselines`` and ``tuning`` config sections)."""

from __future__ import annotations

from typing import Any

from flowem.data.params import resolve_params
from flowem.errors import ConfigError
from flowem.posterior import FlowDPSSettings
from flowem.retrieval import IterativeSettings, PoissonTVSettings

#: run-level keys of the ``flowdps`` section; the rest are the sampler's (FlowDPSSettings)
RUN_DEFAULTS: dict[str, Any] = {
    "samples": 4,
    "batch_size": 32,
    "keep_samples": False,
    "shards": 1,
    "forward_pad_factor": 2.0,
    "b_envelope_a2": 0.0,
    "device": "auto",
}

METHODS = ("wiener", "iterative", "poisson_tv")


def split_flowdps(params: dict[str, Any]) -> tuple[dict[str, Any], FlowDPSSettings]:
    """Run-level settings and the sampler's settings from the ``flowdps`` section."""
    run = {k: params[k] for k in RUN_DEFAULTS if k in params}
    sampler = {k: v for k, v in params.items() if k not in RUN_DEFAULTS}
    try:
        return resolve_params(run, RUN_DEFAULTS, "flowdps"), FlowDPSSettings(**sampler)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"flowdps: {exc}") from exc


def baseline_settings(method: str, params: dict[str, Any]):
    """Settings object (or dict for ``wiener``) of one baseline method."""
    try:
        if method == "wiener":
            return resolve_params(params, {"snr": 1.0}, "baselines.wiener")
        if method == "iterative":
            return IterativeSettings(**params)
        if method == "poisson_tv":
            return PoissonTVSettings(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"baselines.{method}: {exc}") from exc
    raise ConfigError(f"unknown baseline method {method!r}; known: {', '.join(METHODS)}")
