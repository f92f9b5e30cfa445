"""Toy image distribution and tiny-model settings shared by the prior tests."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np


def toy_images(count: int, size: int = 8, seed: int = 0) -> np.ndarray:
    """Gaussian blobs (sigma 1 px, amplitude U[1, 2]) at one of four corners of a centred square.

    The four positions map onto each other under 90-degree rotations, so the distribution is
    invariant under the training augmentation.
    """
    gen = np.random.default_rng(seed)
    lo, hi = size / 4 - 0.5, 3 * size / 4 - 0.5
    corners = np.array([(lo, lo), (lo, hi), (hi, hi), (hi, lo)])
    centres = corners[gen.integers(0, 4, count)]
    amplitude = gen.uniform(1.0, 2.0, count)
    yy, xx = np.mgrid[:size, :size]
    dist2 = (yy[None] - centres[:, 0, None, None]) ** 2 + (
        xx[None] - centres[:, 1, None, None]
    ) ** 2
    return (amplitude[:, None, None] * np.exp(-dist2 / 2.0)).astype(np.float32)


def write_stack(path: Path, images: np.ndarray, voxel_size_a: float = 2.0) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(images, dtype=np.float32))
        mrc.set_image_stack()
        mrc.voxel_size = voxel_size_a
    return path


TINY_NETWORK = {
    "image_size": 8,
    "block_out_channels": [16, 32],
    "layers_per_block": 1,
    "attention_levels": [1],
    "attention_head_dim": 8,
    "norm_num_groups": 8,
    "dropout": 0.0,
}


def train_argv(outdir: Path, train: Path, val: Path | None, params: dict, seed: int = 0) -> list:
    """Command line of ``train-prior`` writing every output under ``outdir``."""
    import json

    argv = ["--train", str(train), "--checkpoint", str(outdir / "checkpoints" / "last.pt")]
    argv += ["--model", str(outdir / "ema.pt"), "--loss-csv", str(outdir / "loss.csv")]
    argv += ["--loss-plot", str(outdir / "loss.png"), "--params", json.dumps(params)]
    argv += ["--seed", str(seed)] + (["--val", str(val)] if val else [])
    return argv


def ddp_worker(rank: int, world_size: int, port: int, argv: list) -> None:
    """One ``torchrun``-like process: the environment torchrun would set, then the command."""
    import os

    import torch

    from flowem.prior import train

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)
    if train.main(argv) != 0:
        raise RuntimeError(f"rank {rank} failed")
