"""Centre crop / pad: where the centre pixel lands, and round trips."""

from __future__ import annotations

import numpy as np
import pytest

from flowem.physics.boxes import centre_crop_or_pad


@pytest.mark.parametrize(("n", "size"), [(8, 4), (9, 5), (4, 8), (5, 9), (9, 4), (4, 9)])
def test_the_centre_pixel_stays_the_centre_pixel(n, size):
    # the centre of an n-pixel side is pixel n // 2 (FFT convention); with sides of one parity,
    # or an odd side cropped to / padded from an even one, it stays the centre
    image = np.zeros((n, n))
    image[n // 2, n // 2] = 1.0
    boxed = centre_crop_or_pad(image, size)
    assert boxed.shape == (size, size)
    assert np.unravel_index(boxed.argmax(), boxed.shape) == (size // 2, size // 2)


def test_offsets_are_half_the_size_difference_rounded_down():
    image = np.arange(64.0).reshape(8, 8)
    np.testing.assert_array_equal(centre_crop_or_pad(image, 5), image[1:6, 1:6])
    padded = centre_crop_or_pad(image[:5, :5], 8)
    np.testing.assert_array_equal(padded[1:6, 1:6], image[:5, :5])


def test_pad_fills_with_the_median_and_crop_undoes_it():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    padded = centre_crop_or_pad(image, 8)
    assert padded.dtype == np.float32 and padded[0, 0] == np.median(image)
    np.testing.assert_array_equal(centre_crop_or_pad(padded, 4), image)


def test_without_pad_the_box_shrinks_to_the_image_and_batches_crop_alike():
    stack = np.random.default_rng(0).normal(size=(3, 6, 10))
    np.testing.assert_array_equal(centre_crop_or_pad(stack, 20, pad=False), stack[:, :, 2:8])
    cropped = centre_crop_or_pad(stack, 4, pad=False)
    np.testing.assert_array_equal(cropped, stack[:, 1:5, 3:7])
    assert np.shares_memory(cropped, stack)  # a view
