"""Data terms of the posterior samplers: one measurement ``y`` seen through an operator.

Samplers work in network units ``u`` (the prior's noise is ``N(0, I)`` there); the prior's
``scale`` maps them to physical units ``x = scale u``, where the operator and the measurement
live. A data term is the only place that conversion happens:

- :class:`LeastSquares`: ``0.5 || A(scale u) - y ||^2 / scale^2``, i.e. the residual measured
  in network units. For a linear operator this is ``0.5 || A u - y / scale ||^2`` and its
  gradient is the operator's (preconditioned) ``data_gradient`` at ``y / scale``; its closed-form
  proximal step is the operator's, with the noise std in network units ``sigma / scale``.
  A nonlinear operator (the microscope) gets autograd gradients and has no proximal step.
- :class:`NegativeLogLikelihood`: ``nll(y, A(scale u)) / alpha`` per item, ``alpha`` the
  operator's vacuum counts when it has one (FlowDPS): the curvature of the Poisson likelihood
  grows with the dose, so dividing by it keeps one step size meaningful across doses.
"""

from __future__ import annotations

import torch

from flowem.physics.operators import LinearOperator, Operator
from flowem.posterior.likelihood import LIKELIHOODS


def _autograd(value, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d sum(value(u)) / du, value(u))`` with ``value`` per item."""
    with torch.enable_grad():
        u = u.detach().requires_grad_(True)
        loss = value(u)
        (grad,) = torch.autograd.grad(loss.sum(), u)
    return grad, loss.detach()


class LeastSquares:
    """``0.5 || A(scale u) - y ||^2 / scale^2`` for physical ``y``; ``noise_std`` (physical,
    default the operator's noise model's ``std``, else 0) weighs the proximal step."""

    def __init__(
        self,
        operator: Operator,
        y: torch.Tensor,
        scale: float = 1.0,
        noise_std: float | None = None,
    ) -> None:
        self.operator, self.scale = operator, float(scale)
        self.linear = isinstance(operator, LinearOperator)
        self.y = y / self.scale if self.linear else y
        if noise_std is None:
            noise_std = float(getattr(operator.noise, "std", 0.0))
        self.noise_std = noise_std / self.scale

    def residual(self, u: torch.Tensor) -> torch.Tensor:
        """``(A(scale u) - y) / scale``, differentiable in ``u``."""
        if self.linear:
            return self.operator.forward(u) - self.y
        return (self.operator(self.scale * u) - self.y) / self.scale

    def gradient(self, u: torch.Tensor) -> torch.Tensor:
        if self.linear:
            return self.operator.data_gradient(u, self.y)
        flat = lambda r: 0.5 * r.pow(2).flatten(1).sum(1)  # noqa: E731
        return _autograd(lambda v: flat(self.residual(v)), u)[0]

    def proximal(self, u: torch.Tensor, weight: float) -> torch.Tensor:
        """``argmin_v ||v - u||^2 + weight ||A v - y / scale||^2`` (linear operators)."""
        if not self.linear:
            raise NotImplementedError(f"{self.operator.name!r}: no closed-form proximal step")
        return self.operator.proximal(u, self.y, weight)


class NegativeLogLikelihood:
    """``likelihood(y, A(scale u)) / alpha`` per item (:data:`LIKELIHOODS`)."""

    def __init__(
        self, operator: Operator, y: torch.Tensor, scale: float = 1.0, likelihood: str = "poisson"
    ) -> None:
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {sorted(LIKELIHOODS)}, got {likelihood!r}")
        self.operator, self.y, self.scale = operator, y, float(scale)
        self.nll = LIKELIHOODS[likelihood]
        self.norm = float(getattr(operator, "alpha", 1.0))

    def value(self, u: torch.Tensor) -> torch.Tensor:
        """The data term per item, (B,) (summed over any channel axis)."""
        loss = self.nll(self.y, self.operator(self.scale * u)) / self.norm
        return loss.flatten(1).sum(1) if loss.ndim > 1 else loss

    def value_and_gradient(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grad, value = _autograd(self.value, u)
        return value, grad

    def gradient(self, u: torch.Tensor) -> torch.Tensor:
        return _autograd(self.value, u)[0]


DataTerm = LeastSquares | NegativeLogLikelihood
