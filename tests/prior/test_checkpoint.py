"""Checkpoint files: kinds, corrupt files and the global RNG round trip."""

import random

import numpy as np
import pytest
import torch

from flowem.errors import InputFileError
from flowem.prior.checkpoint import (
    MODEL_KIND,
    TRAINING_KIND,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)


def test_rng_state_round_trip_replays_every_generator():
    state = capture_rng_state()
    first = (random.random(), np.random.random(), torch.rand(3))  # noqa: NPY002
    restore_rng_state(state)
    second = (random.random(), np.random.random(), torch.rand(3))  # noqa: NPY002
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])


def test_wrong_kind_and_corrupt_files_are_named(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", {"weights": {}}, MODEL_KIND)
    assert load_checkpoint(path, MODEL_KIND)["kind"] == MODEL_KIND
    with pytest.raises(InputFileError, match=f"kind '{TRAINING_KIND}'"):
        load_checkpoint(path, TRAINING_KIND)
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(InputFileError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt", MODEL_KIND)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = save_checkpoint(tmp_path / "a.pt", {"x": torch.ones(2)}, MODEL_KIND)
    with pytest.raises((TypeError, AttributeError)):  # a lambda cannot be pickled: save fails
        save_checkpoint(path, {"x": lambda: None}, MODEL_KIND)
    assert torch.equal(load_checkpoint(path, MODEL_KIND)["x"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]
