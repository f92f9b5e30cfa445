"""Physics of the phase-retrieval problem: atomic potential, projections, phase maps and the
microscope forward model. Knows nothing of networks or samplers.

Main entry points: :class:`~flowem.physics.phase.PhaseMapSimulator` (structure -> phase maps),
:class:`~flowem.physics.forward.MicroscopeForward` (phase -> expected counts, differentiable),
:class:`~flowem.physics.ctf.Optics` (microscope settings).
"""

from flowem.physics.ctf import Optics
from flowem.physics.forward import MicroscopeForward
from flowem.physics.phase import PhaseMapGeometry, PhaseMapSimulator

__all__ = ["MicroscopeForward", "Optics", "PhaseMapGeometry", "PhaseMapSimulator"]
