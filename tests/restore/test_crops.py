"""The crop grid of the restoration test set: non-overlapping, inside the slice, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from flowem.errors import ConfigError
from flowem.restore.crops import crop_origins, cut_crops


def test_grid_crops_tile_without_overlap_inside_the_slice():
    volume = np.arange(4 * 100 * 90, dtype=np.float32).reshape(4, 100, 90)
    crops = cut_crops(volume, [1, 3], 20, 4)
    assert crops.images.shape == (2 * 16, 20, 20) and len(crops) == 32
    assert list(crops.slices) == [1] * 16 + [3] * 16
    mask = np.zeros((100, 90), int)
    for record, image in zip(crops.table.to_dict("records"), crops.images, strict=True):
        r, c = record["row"], record["col"]
        assert 0 <= r <= 100 - 20 and 0 <= c <= 90 - 20
        np.testing.assert_array_equal(image, volume[record["slice"], r : r + 20, c : c + 20])
        if record["slice"] == 1:
            mask[r : r + 20, c : c + 20] += 1
    assert mask.max() == 1 and mask.sum() == 16 * 400  # no pixel in two crops
    again = cut_crops(volume, [1, 3], 20, 4)
    assert again.table.equals(crops.table) and np.array_equal(again.images, crops.images)


def test_one_crop_is_the_centred_crop_and_crops_spread_over_the_slice():
    assert crop_origins(512, 64, 1) == [224]  # (512 - 64) / 2, as centre_crop_or_pad
    assert crop_origins(512, 32, 4) == [48, 176, 304, 432]  # centres of 128 px cells
    assert crop_origins(64, 32, 2) == [0, 32]  # exactly fills the side


def test_crops_that_do_not_fit_are_an_error_naming_the_keys():
    with pytest.raises(ConfigError, match="crop_grid"):
        crop_origins(100, 40, 3)
    with pytest.raises(ConfigError, match="slice 7"):
        cut_crops(np.zeros((5, 64, 64)), [7], 16, 1)


def test_a_spread_subset_keeps_the_crop_numbers():
    crops = cut_crops(np.random.default_rng(0).random((3, 64, 64)), [0, 1, 2], 16, 2)
    which = crops.spread(4)
    assert list(which) == [0, 4, 7, 11] and len(crops.spread(0)) == 12
    part = crops.subset(which)
    assert list(part.table["crop"]) == [0, 4, 7, 11] and list(part.slices) == [0, 1, 1, 2]
    np.testing.assert_array_equal(part.images[2], crops.images[7])
