"""Velocity network: a diffusers ``UNet2DModel`` behind a ``v(x, t)`` interface.

``UNet2DModel`` gives residual blocks with a sinusoidal time embedding, multi-head self-attention
at chosen resolutions and dropout; it is the implementation the EM Generalist authors used.

An optional space-to-depth stem (``space_to_depth = f > 1``) folds each f x f block of pixels into
channels before the U-Net and unfolds them after (``PixelUnshuffle`` / ``PixelShuffle``, no
weights): the U-Net then runs at ``image_size / f`` with ``channels * f**2`` channels, which cuts
a step's cost about ``f**2``-fold (f = 2 at 64 x 64 on one CPU core: 4-5x the images per second,
``benchmarks/bench_train.py``). The channels-last memory format measured no faster (1.0x).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from diffusers import UNet2DModel
from torch import nn

from flowem.settings import from_mapping, require

# diffusers' positional embedding is tuned for integer timesteps in [0, 1000).
_TIME_SCALE = 1000.0


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of the velocity U-Net.

    ``block_out_channels[i]`` is the width at level ``i`` (level 0 = full resolution; each further
    level halves height and width); ``attention_levels`` lists the levels whose blocks carry
    self-attention (the bottleneck always does when ``mid_attention``); ``attention_head_dim`` is
    the number of channels per head. ``space_to_depth`` is the stem's factor (1: no stem; 1 is
    also what checkpoints written before the stem existed load as, and the stem has no weights,
    so their state dicts are unchanged).
    """

    image_size: int = 32
    channels: int = 1
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_levels: tuple[int, ...] = (2,)
    mid_attention: bool = True
    attention_head_dim: int = 16
    norm_num_groups: int = 8
    dropout: float = 0.1
    space_to_depth: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_out_channels", tuple(self.block_out_channels))
        object.__setattr__(self, "attention_levels", tuple(self.attention_levels))
        levels = len(self.block_out_channels)
        require(
            all(0 <= level < levels for level in self.attention_levels),
            "network",
            f"attention_levels {self.attention_levels} must lie in [0, {levels - 1}]",
        )
        require(self.space_to_depth >= 1, "network", "space_to_depth must be >= 1")
        factor = self.space_to_depth * 2 ** (levels - 1)
        require(
            self.image_size % factor == 0,
            "network",
            f"image_size {self.image_size} is not divisible by 2**{levels - 1} * space_to_depth "
            f"= {factor} ({levels} levels of block_out_channels)",
        )
        require(
            all(c % self.norm_num_groups == 0 for c in self.block_out_channels),
            "network",
            f"every block_out_channels {self.block_out_channels} must be divisible by "
            f"norm_num_groups {self.norm_num_groups}",
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NetworkConfig:
        """Build from a config mapping; unknown keys are an error, not silently ignored."""
        return from_mapping(cls, values, "network")

    def to_dict(self) -> dict[str, Any]:
        """Plain-type mapping (lists, not tuples) for JSON and checkpoints."""
        out = asdict(self)
        out["block_out_channels"] = list(self.block_out_channels)
        out["attention_levels"] = list(self.attention_levels)
        return out


class VelocityNet(nn.Module):
    """``v(x, t)`` for images ``x`` (B, C, H, W) and times ``t`` in [0, 1] of shape (B,)."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = cfg = config
        levels = range(len(cfg.block_out_channels))
        down = tuple(
            "AttnDownBlock2D" if i in cfg.attention_levels else "DownBlock2D" for i in levels
        )
        up = tuple(
            "AttnUpBlock2D" if i in cfg.attention_levels else "UpBlock2D" for i in reversed(levels)
        )
        fold = cfg.space_to_depth
        self.stem_in = nn.PixelUnshuffle(fold) if fold > 1 else nn.Identity()
        self.stem_out = nn.PixelShuffle(fold) if fold > 1 else nn.Identity()
        self.unet = UNet2DModel(
            sample_size=cfg.image_size // fold,
            in_channels=cfg.channels * fold**2,
            out_channels=cfg.channels * fold**2,
            down_block_types=down,
            up_block_types=up,
            block_out_channels=cfg.block_out_channels,
            layers_per_block=cfg.layers_per_block,
            attention_head_dim=cfg.attention_head_dim,
            norm_num_groups=cfg.norm_num_groups,
            dropout=cfg.dropout,
            add_attention=cfg.mid_attention,
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32, device=x.device).expand(x.shape[0])
        return self.stem_out(self.unet(self.stem_in(x), t * _TIME_SCALE).sample)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
