"""Regularised maximum likelihood: Poisson negative log-likelihood + total variation.

``min_x [sum(lambda(x) - y log lambda(x)) / alpha + tv_weight * TV_eps(x)] / n_pixels`` from the CTF
inversion (the likelihood divided by the vacuum counts ``alpha`` so that one
``tv_weight`` serves every dose), with the smoothed isotropic TV
``sum sqrt(|grad x|^2 + eps^2)`` (the penalised likelihood family of classical
reconstruction). L-BFGS with a strong-Wolfe line search: a descent method, so the objective
never rises, without a learning rate to tune. Its budget is counted in objective-and-gradient
evaluations (``iterations``, or ``evaluations`` when that is None: FlowDPS's count by default,
:mod:`flowem.flowdps.budget`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from flowem.posterior.likelihood import poisson_nll
from flowem.retrieval.ctf_inverse import wiener_ctf_inverse
from flowem.settings import check_at_least, check_positive


@dataclass(frozen=True)
class PoissonTVSettings:
    tv_weight: float = 0.05
    iterations: int | None = None  # objective-and-gradient evaluations; None: evaluations
    tv_epsilon: float = 1e-3
    init_snr: float = 1.0
    evaluations: int = 360  # the budget when iterations is None (FlowDPS's 4 x 30 x 3)

    def __post_init__(self) -> None:
        section = "baselines.poisson_tv"
        check_at_least(self, section, 0, "tv_weight")
        check_at_least(self, section, 1, "evaluations")
        if self.iterations is not None:
            check_at_least(self, section, 1, "iterations")
        check_positive(self, section, "tv_epsilon", "init_snr")

    @property
    def max_evaluations(self) -> int:
        return self.iterations if self.iterations is not None else self.evaluations

    def to_dict(self) -> dict:
        return asdict(self)


def total_variation(x: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Smoothed isotropic TV per image (B,), forward differences, replicate boundary."""
    dx = torch.diff(x, dim=-1, append=x[..., -1:])
    dy = torch.diff(x, dim=-2, append=x[..., -1:, :])
    return torch.sqrt(dx * dx + dy * dy + epsilon**2).sum(dim=(-2, -1))


def poisson_tv(
    y: torch.Tensor, operator, settings: PoissonTVSettings, counter: list[int] | None = None
) -> torch.Tensor:
    """Phase (B, H, W) in radians minimising Poisson NLL + TV, from the CTF inversion.

    L-BFGS stops after at most ``settings.max_evaluations`` objective-and-gradient
    evaluations (each one forward and one adjoint pass of the microscope model), line search
    included (up to the line search of the last iteration, which may overshoot by a few);
    ``counter`` (a one-item list), if given, receives the number spent.
    """
    n_pixels = y.shape[-1] * y.shape[-2]
    x = wiener_ctf_inverse(y, operator, settings.init_snr).detach().clone().requires_grad_(True)
    budget = settings.max_evaluations
    optimiser = torch.optim.LBFGS(
        [x],
        max_iter=budget,
        max_eval=budget,
        history_size=20,
        line_search_fn="strong_wolfe",
    )
    spent = [0]

    def closure() -> torch.Tensor:
        spent[0] += 1
        optimiser.zero_grad()
        tv = total_variation(x, settings.tv_epsilon)
        nll = poisson_nll(y, operator(x)) / operator.alpha
        objective = ((nll + settings.tv_weight * tv) / n_pixels).sum()
        objective.backward()
        return objective

    optimiser.step(closure)
    if counter is not None:
        counter[:] = [spent[0]]
    return x.detach()
