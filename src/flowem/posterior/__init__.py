"""Posterior samplers: combine a flow prior (a velocity callable) with a physics operator.

Samplers know neither networks nor microscopes: they receive ``velocity(x, t)`` at
construction or call time and an operator with ``forward`` at call time.
"""

from flowem.posterior.flowdps import FlowDPSSettings, flowdps_sample, summarise_samples
from flowem.posterior.likelihood import gaussian_intensity_loss, poisson_deviance, poisson_nll
from flowem.posterior.schedules import time_grid

__all__ = [
    "FlowDPSSettings",
    "flowdps_sample",
    "gaussian_intensity_loss",
    "poisson_deviance",
    "poisson_nll",
    "summarise_samples",
    "time_grid",
]
