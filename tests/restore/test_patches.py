"""EM patch extraction: ranges, slices and determinism."""

from __future__ import annotations

import numpy as np

from flowem.io import read_mrc, write_tiff
from flowem.restore.patches import main, random_patches, to_unit_range


def test_unit_range_maps_grey_levels_to_minus_one_one():
    assert np.allclose(to_unit_range(np.array([0, 255], dtype=np.uint8)), [-1.0, 1.0])


def test_patches_come_from_the_requested_slices():
    """Each slice holds a constant equal to its index: patch values name their slice."""
    volume = np.repeat(np.arange(10, dtype=np.float32)[:, None, None], 20, 1).repeat(20, 2)
    patches = random_patches(volume, [2, 5], 200, 8, seed=0, stream=0)
    assert patches.shape == (200, 8, 8)
    assert set(np.unique(patches)) == {2.0, 5.0}
    assert np.array_equal(patches, random_patches(volume, [2, 5], 200, 8, seed=0, stream=0))


def test_em_patches_command_writes_stacks_in_angstrom(tmp_path):
    gen = np.random.default_rng(0)
    volume = gen.integers(0, 256, size=(30, 40, 40), dtype=np.uint8)
    tif = write_tiff(tmp_path / "vol.tif", volume, (50.0, 4.0, 4.0))
    argv = ["--volume", str(tif), "--train", str(tmp_path / "d" / "train.mrcs")]
    argv += [
        "--val",
        str(tmp_path / "d" / "val.mrcs"),
        "--params",
        '{"patch": 16, "n_train": 32, "n_val": 8}',
    ]
    assert main(argv) == 0
    train, pixel_a = read_mrc(tmp_path / "d" / "train.mrcs")
    val, _ = read_mrc(tmp_path / "d" / "val.mrcs")
    assert train.shape == (32, 16, 16) and val.shape == (8, 16, 16)
    assert pixel_a == 40.0
    assert train.min() >= -1 and train.max() <= 1
    assert (tmp_path / "d" / "em_patches_config.json").is_file()
