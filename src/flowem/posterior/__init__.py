"""Posterior samplers: combine a flow prior (a velocity callable) with a physics operator.

One loop (:func:`~flowem.posterior.sampler.run`) with a pluggable data step
(:mod:`~flowem.posterior.steps`) and data term (:mod:`~flowem.posterior.data_terms`); FlowDPS
and the restoration samplers are settings of it (:mod:`~flowem.posterior.settings`). Samplers
know neither networks nor microscopes: they receive ``velocity(x, t)`` (``t`` of shape (B,))
and an operator of :mod:`flowem.physics.operators` at call time.
"""

from flowem.posterior.flowdps import flowdps_sample, summarise_samples
from flowem.posterior.likelihood import gaussian_intensity_loss, poisson_deviance, poisson_nll
from flowem.posterior.sampler import run, sample, standard_normal
from flowem.posterior.schedules import time_grid
from flowem.posterior.settings import FlowDPSSettings, SamplerSettings

__all__ = [
    "FlowDPSSettings",
    "SamplerSettings",
    "flowdps_sample",
    "gaussian_intensity_loss",
    "poisson_deviance",
    "poisson_nll",
    "run",
    "sample",
    "standard_normal",
    "summarise_samples",
    "time_grid",
]
