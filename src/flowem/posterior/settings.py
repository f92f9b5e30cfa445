"""Settings of the posterior samplers: each is a configuration of the one loop.

:class:`FlowDPSSettings` (config section ``flowdps``) and :class:`SamplerSettings` (section
``restore.sampler``) each say which time grid, which data step and which data term the loop
(:func:`flowem.posterior.sampler.run`) gets. Their defaults equal the schema's
(``workflow/schemas/config.schema.yaml``; ``tests/test_defaults.py`` keeps them equal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from flowem.physics.operators import Operator
from flowem.posterior.data_terms import LeastSquares, NegativeLogLikelihood
from flowem.posterior.likelihood import LIKELIHOODS
from flowem.posterior.schedules import (
    DATA_WEIGHTS,
    STEP_SCHEDULES,
    prior_error_variance,
    time_grid,
)
from flowem.posterior.steps import (
    DataStep,
    EulerGradient,
    LikelihoodGradient,
    NetworkGradient,
    PnPGradient,
    Proximal,
)
from flowem.settings import check_at_least, check_choice, check_interval, check_positive


@dataclass(frozen=True)
class FlowDPSSettings:
    """FlowDPS (SPEC section 5): likelihood-gradient steps with the blend, shifted grid."""

    steps: int = 30
    time_shift: float = 1.0
    dc_steps: int = 3
    step_size: float = 1.0
    step_schedule: str = "constant"
    step_power: float = 1.0
    likelihood: str = "poisson"
    blend: str = "flowdps"
    stochasticity: float | str = "flowdps"

    def __post_init__(self) -> None:
        section = "flowdps"
        check_at_least(self, section, 1, "steps")
        check_at_least(self, section, 0, "dc_steps", "step_size", "step_power")
        check_positive(self, section, "time_shift")
        check_choice(self, section, "likelihood", sorted(LIKELIHOODS))
        check_choice(self, section, "blend", ("flowdps", "replace"))
        check_choice(self, section, "step_schedule", STEP_SCHEDULES)
        if self.stochasticity != "flowdps":
            check_interval(self, section, "stochasticity", 0.0, 1.0)

    def grid(self) -> torch.Tensor:
        return time_grid(self.steps, self.time_shift)

    def data_step(self) -> DataStep:
        return LikelihoodGradient(
            self.dc_steps,
            self.step_size,
            self.step_schedule,
            self.step_power,
            self.blend,
            self.stochasticity,
        )

    def data_term(
        self, operator: Operator, y: torch.Tensor, scale: float, noise_std: float | None = None
    ) -> NegativeLogLikelihood:
        return NegativeLogLikelihood(operator, y, scale, self.likelihood)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


METHODS = ("si", "pnp", "dps", "dc")


@dataclass(frozen=True)
class SamplerSettings:
    """The restoration samplers: which update, how many steps, how strong the data term.

    ``si``, ``pnp`` and ``dps`` take data steps of ``gamma_t = lr (1 - t)^alpha``
    (``schedule: pnp``, PnP-Flow's) or ``lr t^alpha`` (``schedule: si``, the EM Generalist
    supplement's). ``dc`` weighs the data by ``r_t^2 / sigma^2`` with
    ``r_t^2 = lr (1 - t)^2 / (t^2 + (1 - t)^2)``. ``eta`` is the re-noising of ``pnp`` and
    ``dc`` (1 fresh noise, 0 the previous noise estimate). ``dps`` runs ``dps_steps`` steps of
    ``dps_lr`` (None: ``lr steps / dps_steps``, the same total push).
    """

    method: str = "si"
    steps: int = 30
    lr: float = 1.0
    alpha: float = 0.3
    schedule: str = "pnp"  # gamma_t: "pnp" lr (1 - t)^alpha, "si" lr t^alpha (SPEC section 6)
    eta: float = 1.0
    dps_steps: int = 200
    dps_lr: float | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        section = "restore.sampler"
        check_choice(self, section, "method", METHODS)
        check_choice(self, section, "schedule", sorted(DATA_WEIGHTS))
        check_at_least(self, section, 1, "steps", "dps_steps")
        check_at_least(self, section, 0, "lr", "alpha")
        check_interval(self, section, "eta", 0.0, 1.0)
        if self.dps_lr is not None:
            check_positive(self, section, "dps_lr")

    @property
    def n_steps(self) -> int:
        return self.dps_steps if self.method == "dps" else self.steps

    @property
    def step_lr(self) -> float:
        if self.method != "dps":
            return self.lr
        return self.lr * self.steps / self.dps_steps if self.dps_lr is None else self.dps_lr

    def gamma(self, t: float) -> float:
        """Data step size ``gamma_t``: ``lr (1 - t)^alpha`` (``pnp``) or ``lr t^alpha`` (``si``)."""
        return DATA_WEIGHTS[self.schedule](self.step_lr, self.alpha, t)

    def prior_error(self, t: float) -> float:
        """``dc``: ``r_t^2``, the error variance of ``x1_hat`` scaled by ``lr``."""
        return prior_error_variance(t, self.lr)

    def grid(self) -> torch.Tensor:
        return time_grid(self.n_steps)

    def data_step(self) -> DataStep:
        if self.method == "dc":
            return Proximal(self.prior_error, self.eta)
        if self.method == "pnp":
            return PnPGradient(self.gamma, self.eta)
        if self.method == "dps":
            return NetworkGradient(self.gamma)
        return EulerGradient(self.gamma)

    def data_term(
        self, operator: Operator, y: torch.Tensor, scale: float, noise_std: float | None = None
    ) -> LeastSquares:
        return LeastSquares(operator, y, scale, noise_std)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
