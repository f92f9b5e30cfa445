"""Sums over all pairs of two sample sets, ``sum_ij k(|x_i - y_j|^2)``, in row chunks.

Two routes: low-dimensional sets form the differences directly (exact); high-dimensional ones
(images) use one GEMM, ``|a|^2 + |b|^2 - 2 a.b``. The distance sum ``sum_ij |x_i - y_j|`` of the
GEMM route has its own backward, ``d/dx_i = sum_j (x_i - y_j) / |x_i - y_j|``: one more GEMM
instead of autograd's two, with the inverse distances kept from the forward pass while they fit
in ``SAVED_ELEMENTS`` (recomputed per chunk otherwise, so memory stays ``chunk x M``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint

Tensor = torch.Tensor
#: below this dimension differences are formed directly (exact); above, by one GEMM
DIRECT_MAX_DIM = 8
#: inverse distances kept for the backward pass up to this many entries (64 MiB in float32)
SAVED_ELEMENTS = 1 << 24


def as_2d(x: Tensor) -> Tensor:
    return x[:, None] if x.ndim == 1 else x.reshape(x.shape[0], -1)


def squared_distances(
    a: Tensor, b: Tensor, a_sq: Tensor | None = None, b_sq: Tensor | None = None
) -> Tensor:
    """``|a_i - b_j|^2``; ``a_sq``/``b_sq`` are the row norms squared when already known."""
    if a.shape[1] <= DIRECT_MAX_DIM:
        return (a[:, None, :] - b[None, :, :]).pow(2).sum(-1)
    a_sq = a.pow(2).sum(1) if a_sq is None else a_sq
    b_sq = b.pow(2).sum(1) if b_sq is None else b_sq
    return (a_sq[:, None] + b_sq[None, :] - 2.0 * a @ b.T).clamp_min(0.0)


def _zero_diagonal(values: Tensor, start: int) -> Tensor:
    rows = torch.arange(values.shape[0], device=values.device)
    return values.index_put((rows, rows + start), values.new_zeros(()))


def chunked_sum(
    x: Tensor, y: Tensor, kernel: Callable[[Tensor], Tensor], *, same: bool, chunk_size: int
) -> Tensor:
    """``sum_ij kernel(|x_i - y_j|^2)``; with ``same`` the diagonal is left out (x is y).

    With several chunks each one is recomputed in the backward pass (checkpointing).
    """
    total = x.new_zeros(())
    several = x.shape[0] > chunk_size
    for start in range(0, x.shape[0], chunk_size):

        def block(xa: Tensor, yb: Tensor, start: int = start) -> Tensor:
            values = kernel(squared_distances(xa, yb))
            return (_zero_diagonal(values, start) if same else values).sum()

        xa = x[start : start + chunk_size]
        if several and torch.is_grad_enabled() and (xa.requires_grad or y.requires_grad):
            total = total + checkpoint(block, xa, y, use_reentrant=False)
        else:
            total = total + block(xa, y)
    return total


def _inverse_distances(
    xa: Tensor, y: Tensor, xa_sq: Tensor, y_sq: Tensor, start: int | None
) -> tuple[Tensor, Tensor]:
    """Distances of a row chunk and ``1 / distance`` (0 where the distance is 0 or excluded)."""
    d2 = squared_distances(xa, y, xa_sq, y_sq)
    if start is not None:
        d2 = _zero_diagonal(d2, start)
    dist = d2.sqrt()
    inv = torch.where(d2 > 1e-30, dist.clamp_min(1e-15).reciprocal(), torch.zeros_like(d2))
    return dist, inv


class _DistanceSumGemm(torch.autograd.Function):
    """``sum_ij |x_i - y_j|`` (``y`` None: ``sum_{i != k} |x_i - x_k|``); gradient in ``x`` only."""

    @staticmethod
    def forward(
        ctx, x: Tensor, y: Tensor | None, x_sq: Tensor | None, y_sq: Tensor | None, chunk_size: int
    ) -> Tensor:
        same = y is None
        y = x if same else y
        x_sq = x.pow(2).sum(1) if x_sq is None else x_sq
        y_sq = x_sq if same else (y.pow(2).sum(1) if y_sq is None else y_sq)
        keep = ctx.needs_input_grad[0] and x.shape[0] * y.shape[0] <= SAVED_ELEMENTS
        total, saved = x.new_zeros(()), []
        for start in range(0, x.shape[0], chunk_size):
            stop = start + chunk_size
            dist, inv = _inverse_distances(
                x[start:stop], y, x_sq[start:stop], y_sq, start if same else None
            )
            total = total + dist.sum()
            if keep:
                saved.append(inv)
        ctx.same, ctx.chunk_size = same, chunk_size
        ctx.inverse = (saved[0] if len(saved) == 1 else torch.cat(saved)) if keep else None
        ctx.save_for_backward(x, None if same else y, x_sq, y_sq)
        return total

    @staticmethod
    def backward(ctx, grad_total: Tensor):
        x, y, x_sq, y_sq = ctx.saved_tensors
        y = x if ctx.same else y
        grads = []
        for start in range(0, x.shape[0], ctx.chunk_size):
            stop = start + ctx.chunk_size
            if ctx.inverse is not None:
                inv = ctx.inverse[start:stop]
            else:
                inv = _inverse_distances(
                    x[start:stop], y, x_sq[start:stop], y_sq, start if ctx.same else None
                )[1]
            # sum_j (x_i - y_j) / |x_i - y_j|
            grads.append(torch.addmm(x[start:stop] * inv.sum(1, keepdim=True), inv, y, alpha=-1))
        grad = grads[0] if len(grads) == 1 else torch.cat(grads)
        # each unordered pair appears twice in the same-set sum
        return grad.mul_(grad_total * (2.0 if ctx.same else 1.0)), None, None, None, None


def distance_sum(
    x: Tensor,
    y: Tensor | None = None,
    *,
    chunk_size: int = 1024,
    x_sq: Tensor | None = None,
    y_sq: Tensor | None = None,
) -> Tensor:
    """``sum_ij |x_i - y_j|`` over rows of ``x`` ``(N, d)`` and ``y`` ``(M, d)`` (``y`` None:
    over ordered pairs of distinct rows of ``x``). Differentiable in ``x``; ``x_sq``/``y_sq``:
    row norms squared, when known, for the GEMM route."""
    if x.shape[1] > DIRECT_MAX_DIM and (y is None or not y.requires_grad):
        x_sq = None if x_sq is None else x_sq.detach()
        return _DistanceSumGemm.apply(x, y, x_sq, y_sq, chunk_size)
    # zero distances occur only on the excluded diagonal; the clamp keeps sqrt's gradient finite
    kernel = lambda d2: d2.clamp_min(1e-30).sqrt()  # noqa: E731
    same = y is None
    return chunked_sum(x, x if same else y, kernel, same=same, chunk_size=chunk_size)
