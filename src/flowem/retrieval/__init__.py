"""Classical single-image phase retrieval baselines on the shared microscope operator.

Each method is a plain function ``method(y, operator, settings, generator) -> phase (B, H, W)``
in radians; the operator is :class:`flowem.physics.forward.MicroscopeForward`.
"""

from flowem.retrieval.ctf_inverse import wiener_ctf_inverse
from flowem.retrieval.iterative import IterativeResult, IterativeSettings, iterative_phase_retrieval
from flowem.retrieval.poisson_tv import PoissonTVSettings, poisson_tv

__all__ = [
    "IterativeResult",
    "IterativeSettings",
    "PoissonTVSettings",
    "iterative_phase_retrieval",
    "poisson_tv",
    "wiener_ctf_inverse",
]
