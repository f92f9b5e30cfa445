"""EM patch extraction: ranges, slices and determinism."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_robust_patches_equalise_the_slices_and_record_each(tmp_path):
    """Slices of one texture at contrasts 1x and 4x (the second with bright membranes) give
    patches of one amplitude and polarity under ``robust`` / ``auto``; each slice's
    statistics are in the run's config."""
    import json

    from flowem.restore.normalise import lowpass, robust_spread

    yy, xx = np.mgrid[:64, :64]
    texture = 0.1 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    texture[(yy % 16 < 2) | (xx % 12 < 2)] = -0.5  # thin dark walls
    volume = np.stack([120 + 60 * texture, 120 - 240 * texture] * 2).astype(np.float32)
    tif = write_tiff(tmp_path / "vol.tif", volume, (50.0, 4.0, 4.0))
    out = tmp_path / "d"
    params = {"patch": 64, "n_train": 4, "n_val": 4, "train_slices": [0], "val_slices": [1]}
    params |= {"normalise": "robust", "polarity": "auto"}
    argv = ["--volume", str(tif), "--train", str(out / "train.mrcs"), "--val"]
    assert main([*argv, str(out / "val.mrcs"), "--params", json.dumps(params)]) == 0
    train, _ = read_mrc(out / "train.mrcs")
    val, _ = read_mrc(out / "val.mrcs")
    assert np.allclose(train[0], val[0], atol=1e-4)  # 4x contrast, inverted: the same patch
    assert robust_spread(lowpass(train[0])) == pytest.approx(0.29, rel=1e-3)
    config = json.loads((out / "em_patches_config.json").read_text())["config"]
    records = config["normalisation"]
    assert [r["polarity"] for r in records] == ["dark", "bright"] * 2
    assert records[1]["spread"] == pytest.approx(4 * records[0]["spread"], rel=1e-6)
