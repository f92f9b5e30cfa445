"""Fixtures of the prior tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.prior.prior_toys import toy_images, write_stack


@pytest.fixture
def toy_stacks(tmp_path: Path) -> tuple[Path, Path]:
    """(train, held-out) MRC stacks of the toy distribution, 8 x 8 px."""
    train = write_stack(tmp_path / "train.mrcs", toy_images(512, seed=1))
    val = write_stack(tmp_path / "val.mrcs", toy_images(256, seed=2))
    return train, val


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from a second thread, and on a shared 2-core machine OpenMP
    threads waiting for each other cost more than they give."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
