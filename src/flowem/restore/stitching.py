"""Large images from a patch prior: overlapping patches, overlaps averaged after every step.

The EM Generalist scheme (SI Fig. 12): split the image into ``patch``-sized tiles overlapping by
``overlap`` pixels (12.5 %, 16 px at 128), update every tile, average the overlaps into one image,
re-split. Every update of the samplers is affine in the velocity at fixed state
(``x + dt v``, ``z~ + (1 - t) v``) and the tiles are crops of one global state, so averaging the
updated tiles equals updating the global state with the tile-averaged velocity.
:class:`StitchedVelocity` is that velocity: any sampler runs unchanged on the whole image, with
one global noise image and a global data term (exact for blur, which couples tiles).
"""

from __future__ import annotations

from functools import cached_property

import torch
import torch.nn.functional as F

from flowem.prior.solvers import VelocityField


def tile_starts(length: int, patch: int, overlap: int) -> list[int]:
    """Tile origins along one axis: stride ``patch - overlap``; the last tile ends at the border."""
    if length <= patch:
        return [0]
    if not 0 <= overlap < patch:
        raise ValueError(f"overlap must lie in [0, {patch}), got {overlap}")
    return [*range(0, length - patch, patch - overlap), length - patch]


class PatchTiling:
    """Split (B, C, H, W) images into overlapping tiles and merge tiles back by averaging."""

    def __init__(self, shape: tuple[int, int], patch: int, overlap: int) -> None:
        if min(shape) < patch:
            raise ValueError(f"image {shape} is smaller than the patch {patch}")
        self.shape, self.patch, self.overlap = tuple(shape), int(patch), int(overlap)
        self.rows = tile_starts(shape[0], patch, overlap)
        self.cols = tile_starts(shape[1], patch, overlap)
        self.origins = [(r, c) for r in self.rows for c in self.cols]

    def __len__(self) -> int:
        return len(self.origins)

    @cached_property
    def coverage(self) -> torch.Tensor:
        """How many tiles cover each pixel, (H, W)."""
        count = torch.zeros(self.shape)
        for r, c in self.origins:
            count[r : r + self.patch, c : c + self.patch] += 1
        return count

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """Tiles of ``x`` as (B * n_tiles, C, P, P), ordered image-major then row-major."""
        p = self.patch
        tiles = [x[..., r : r + p, c : c + p] for r, c in self.origins]
        return torch.stack(tiles, dim=1).flatten(0, 1)

    def merge(self, tiles: torch.Tensor) -> torch.Tensor:
        """Average overlapping ``tiles`` (from :meth:`split`) into (B, C, H, W) images."""
        p, n = self.patch, len(self.origins)
        tiles = tiles.reshape(-1, n, *tiles.shape[1:])
        out = tiles.new_zeros((tiles.shape[0], tiles.shape[2], *self.shape))
        for i, (r, c) in enumerate(self.origins):
            out[..., r : r + p, c : c + p] += tiles[:, i]
        return out / self.coverage.to(device=out.device, dtype=out.dtype)


def overlap_pixels(patch: int, fraction: float = 0.125) -> int:
    """Overlap in pixels for a tile of ``patch`` pixels (16 at 128 for 12.5 %)."""
    return round(fraction * patch)


class StitchedVelocity:
    """``v(x, t)`` of a patch prior on images of any size >= ``patch`` (tile-averaged).

    Tiles go through ``velocity`` in batches of ``batch_size``. Images smaller than the patch
    along an axis are reflect-padded to it (replicate when too small to reflect) and cropped back.
    """

    def __init__(
        self, velocity: VelocityField, patch: int, overlap: int, batch_size: int = 32
    ) -> None:
        self.velocity, self.patch, self.overlap = velocity, int(patch), int(overlap)
        self.batch_size = int(batch_size)
        self._tilings: dict[tuple[int, int], PatchTiling] = {}

    def tiling(self, shape: tuple[int, int]) -> PatchTiling:
        if shape not in self._tilings:
            self._tilings[shape] = PatchTiling(shape, self.patch, self.overlap)
        return self._tilings[shape]

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = max(0, self.patch - h), max(0, self.patch - w)
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            padded = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
            return self(padded, t)[..., :h, :w]
        tiling = self.tiling((h, w))
        tiles = tiling.split(x)
        times = t.repeat_interleave(len(tiling))
        out = [
            self.velocity(tiles[i : i + self.batch_size], times[i : i + self.batch_size])
            for i in range(0, len(tiles), self.batch_size)
        ]
        return tiling.merge(torch.cat(out))
