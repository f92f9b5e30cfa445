"""Exponential moving average of the network weights (what inference loads)."""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """EMA copy of ``model``: ``ema <- decay * ema + (1 - decay) * weights`` after every step.

    ``torch.optim.swa_utils.AveragedModel`` copies the weights at its first update, keeps a
    step counter in its state dict (so a resumed run continues the same average) and averages
    buffers too (``use_buffers=True``).
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.requires_grad_(False)
    return ema
