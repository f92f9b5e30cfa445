"""Training images: a memory-mapped MRC stack, a fixed normalisation, stateless batches.

Every batch is a pure function of ``(seed, step)``: which images, which 90-degree rotations and
which noise. Resuming at any step, or splitting a batch across processes, therefore sees exactly
the randomness of an uninterrupted single-process run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import torch

from flowem.errors import InputFileError
from flowem.prior.path import draw_noise_and_time
from flowem.runtime import rng, torch_generator

# Integer stream keys for flowem.runtime.rng: one independent random stream per purpose.
BATCH_STREAM = 401
NOISE_STREAM = 402
VALIDATION_STREAM = 403
STATISTIC_CHUNK = 4096


@dataclass(frozen=True)
class Normaliser:
    """Network units = physical units / ``scale``; one dataset statistic, never per image."""

    scale: float

    def to_network(self, x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        return x / self.scale

    def to_physical(self, x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        return x * self.scale


class MrcImageStack:
    """A (N, H, W) stack of square images read lazily through ``mrcfile.mmap``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(self.path, "no such file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                self._mrc = mrcfile.mmap(self.path, mode="r", permissive=False)
        except (ValueError, RuntimeWarning, OSError, EOFError) as exc:
            raise InputFileError(self.path, f"not a readable MRC stack ({exc})") from exc
        data = self._mrc.data
        self.data = data[None] if data.ndim == 2 else data
        if self.data.ndim != 3 or self.data.shape[0] == 0:
            raise InputFileError(self.path, f"expected an (N, H, W) stack, got {data.shape}")
        if self.data.shape[1] != self.data.shape[2]:
            raise InputFileError(self.path, f"images must be square, got {self.data.shape[1:]}")
        self.voxel_size_a = float(self._mrc.voxel_size.x)

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def image_size(self) -> int:
        return int(self.data.shape[1])

    def gather(self, indices: np.ndarray) -> np.ndarray:
        """Images ``indices`` as a float32 array; reads in sorted order, returns in given order."""
        order = np.argsort(indices, kind="stable")
        out = np.empty((len(indices), *self.data.shape[1:]), dtype=np.float32)
        out[order] = self.data[np.asarray(indices)[order]]
        return out

    def std(self) -> float:
        """Pixel standard deviation over the whole stack (float64, chunked); checks finiteness."""
        total = total_sq = 0.0
        for start in range(0, len(self), STATISTIC_CHUNK):
            chunk = np.asarray(self.data[start : start + STATISTIC_CHUNK], dtype=np.float64)
            if not np.isfinite(chunk).all():
                raise InputFileError(self.path, "holds NaN or Inf values")
            total += chunk.sum()
            total_sq += np.square(chunk).sum()
        count = self.data.size
        variance = total_sq / count - (total / count) ** 2
        std = float(np.sqrt(max(variance, 0.0)))
        if not std > 0:
            raise InputFileError(self.path, "all pixels are equal; no scale to normalise by")
        return std

    def close(self) -> None:
        self._mrc.close()


def rotate_quarter_turns(images: np.ndarray, quarter_turns: np.ndarray) -> np.ndarray:
    """Rotate each square image in-plane by ``quarter_turns[i] * 90`` degrees (no flips)."""
    out = images.copy()
    for k in (1, 2, 3):
        chosen = quarter_turns == k
        if chosen.any():
            out[chosen] = np.rot90(images[chosen], k, axes=(1, 2))
    return out


@dataclass
class FlowBatch:
    """One process's share of a training batch, in network units, on CPU."""

    x1: torch.Tensor
    x0: torch.Tensor
    t: torch.Tensor


def batch_indices(n_images: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Image indices of the global batch at ``step`` (without replacement when possible)."""
    return rng(seed, BATCH_STREAM, step).choice(
        n_images, size=batch_size, replace=n_images < batch_size
    )


def make_batch(
    images: np.ndarray | MrcImageStack,
    normaliser: Normaliser,
    batch_size: int,
    seed: int,
    step: int,
    rank: int = 0,
    world_size: int = 1,
    rotate: bool = True,
) -> FlowBatch:
    """This rank's slice of the global batch of ``step``.

    ``images`` is the memory-mapped stack or the same data as an in-memory array (benchmark).
    """
    indices = batch_indices(len(images), batch_size, seed, step)
    gen = rng(seed, BATCH_STREAM, step, 1)
    turns = gen.integers(0, 4, size=batch_size) if rotate else np.zeros(batch_size, dtype=int)
    share = slice(rank * batch_size // world_size, (rank + 1) * batch_size // world_size)
    mine = indices[share]
    pixels = images.gather(mine) if isinstance(images, MrcImageStack) else images[mine]
    pixels = rotate_quarter_turns(np.asarray(pixels, dtype=np.float32), turns[share])
    x1 = torch.from_numpy(normaliser.to_network(pixels)).unsqueeze(1)
    x0, t = draw_noise_and_time(
        batch_size, tuple(x1.shape[1:]), torch_generator(seed, NOISE_STREAM, step)
    )
    return FlowBatch(x1=x1, x0=x0[share], t=t[share])


def validation_batch(
    stack: MrcImageStack, normaliser: Normaliser, count: int, seed: int
) -> FlowBatch:
    """A fixed set of held-out images with fixed noise and times, for a comparable val loss."""
    count = min(count, len(stack))
    pixels = stack.gather(np.arange(count))
    x1 = torch.from_numpy(normaliser.to_network(pixels)).unsqueeze(1)
    x0, t = draw_noise_and_time(
        count, tuple(x1.shape[1:]), torch_generator(seed, VALIDATION_STREAM)
    )
    return FlowBatch(x1=x1, x0=x0, t=t)
