"""The restoration test and validation sets: a grid of non-overlapping crops of each slice.

Each slice is cut into ``grid x grid`` equal cells and one ``crop x crop`` square is taken from
the centre of every cell, so the crops never overlap, lie inside the slice, spread over all of
it (neighbouring crops are a cell apart, which keeps them less alike than adjacent tiles) and
depend on nothing but the shape (``grid = 1``: the centred crop of the slice). The crops of one
slice are correlated (same section, same staining); :mod:`flowem.restore.intervals` therefore
reports an interval over slices beside the one over crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowem.errors import ConfigError


def crop_origins(length: int, crop: int, grid: int) -> list[int]:
    """Start of each crop along one axis: centred in ``grid`` equal cells of ``length``."""
    if grid < 1 or crop < 1:
        raise ConfigError(f"restore: need crop >= 1 and a grid >= 1, got {crop} and {grid}")
    if grid * crop > length:
        raise ConfigError(
            f"restore: {grid} crops of {crop} px do not fit side by side in {length} px "
            "(lower restore.crop or restore.crop_grid)"
        )
    return [int(np.floor((i + 0.5) * length / grid - crop / 2)) for i in range(grid)]


@dataclass(frozen=True)
class Crops:
    """Crops (N, crop, crop) and where each comes from: ``table`` with columns ``crop`` (index),
    ``slice``, ``row``, ``col`` (pixel origin in the slice)."""

    images: np.ndarray
    table: pd.DataFrame

    @property
    def slices(self) -> np.ndarray:
        return self.table["slice"].to_numpy()

    def __len__(self) -> int:
        return len(self.images)

    def spread(self, count: int) -> np.ndarray:
        """Indices of ``count`` crops evenly spread over the set (all for 0 or ``count >= N``)."""
        if count <= 0 or count >= len(self):
            return np.arange(len(self))
        return np.unique(np.linspace(0, len(self) - 1, count).round().astype(int))

    def subset(self, indices: np.ndarray) -> Crops:
        """The crops at ``indices``; their ``crop`` numbers (the pairing key) are kept."""
        return Crops(self.images[indices], self.table.iloc[indices].reset_index(drop=True))


def cut_crops(volume: np.ndarray, slices: list[int], crop: int, grid: int) -> Crops:
    """The ``grid x grid`` crops of each of ``slices`` of ``volume`` (Z, H, W), slice-major then
    row-major."""
    height, width = volume.shape[-2:]
    rows, cols = crop_origins(height, crop, grid), crop_origins(width, crop, grid)
    images, records = [], []
    for z in slices:
        if not 0 <= z < len(volume):
            raise ConfigError(f"restore: slice {z} is outside the volume's {len(volume)} slices")
        for r in rows:
            for c in cols:
                records.append({"crop": len(records), "slice": int(z), "row": r, "col": c})
                images.append(volume[z, r : r + crop, c : c + crop])
    return Crops(np.stack(images).astype(np.float32, copy=False), pd.DataFrame(records))
