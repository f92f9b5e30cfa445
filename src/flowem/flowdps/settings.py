"""Parameters of the FlowDPS stage (``flowdps``, ``baselines`` and ``tuning`` config sections)."""

from __future__ import annotations

from typing import Any

from flowem.errors import ConfigError
from flowem.posterior import FlowDPSSettings
from flowem.retrieval import IterativeSettings, PoissonTVSettings
from flowem.settings import from_mapping, resolve_params

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

#: the ``baselines.wiener`` section
WIENER_DEFAULTS: dict[str, Any] = {"snr": 1.0}

METHODS = ("wiener", "iterative", "poisson_tv")


def split_flowdps(params: dict[str, Any]) -> tuple[dict[str, Any], FlowDPSSettings]:
    """Run-level settings and the sampler's settings from the ``flowdps`` section."""
    run = {k: params[k] for k in RUN_DEFAULTS if k in params}
    sampler = {k: v for k, v in params.items() if k not in RUN_DEFAULTS}
    settings = from_mapping(FlowDPSSettings, sampler, "flowdps")
    return resolve_params(run, RUN_DEFAULTS, "flowdps"), settings


def baseline_settings(method: str, params: dict[str, Any]):
    """Settings object (or dict for ``wiener``) of one baseline method."""
    section = f"baselines.{method}"
    if method == "wiener":
        return resolve_params(params, WIENER_DEFAULTS, section)
    if method == "iterative":
        return from_mapping(IterativeSettings, params, section)
    if method == "poisson_tv":
        return from_mapping(PoissonTVSettings, params, section)
    raise ConfigError(f"unknown baseline method {method!r}; known: {', '.join(METHODS)}")
