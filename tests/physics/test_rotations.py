"""The one SO(3) sampler: proper rotations, Haar-uniform, each generator's own stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from flowem.physics.rotations import random_rotations


def _generators(seed: int):
    return np.random.default_rng(seed), torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind", [0, 1], ids=["numpy", "torch"])
def test_rotations_are_proper_and_haar_uniform(kind):
    count = 20000
    mats = random_rotations(count, _generators(0)[kind]).as_matrix()
    assert mats.shape == (count, 3, 3)
    np.testing.assert_allclose(
        mats @ mats.transpose(0, 2, 1), np.broadcast_to(np.eye(3), mats.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(mats), 1.0, atol=1e-12)
    # Haar: every entry has mean 0 and variance 1/3; the angle has density (1 - cos a) / pi,
    # so E[cos a] = -1/2, i.e. E[trace] = 1 + 2 E[cos a] = 0
    se = np.sqrt(1 / 3 / count)
    assert np.abs(mats.mean(axis=0)).max() < 5 * se
    np.testing.assert_allclose((mats**2).mean(axis=0), 1 / 3, atol=0.02)
    assert abs(np.trace(mats, axis1=1, axis2=2).mean()) < 5 * np.sqrt(1 / count)


def test_numpy_stream_is_scipys_and_torch_stream_is_gaussian_quaternions_w_first():
    rng, gen = _generators(7)
    expected = Rotation.random(5, random_state=np.random.default_rng(7))
    np.testing.assert_array_equal(random_rotations(5, rng).as_quat(), expected.as_quat())
    w, x, y, z = torch.randn(
        5, 4, generator=torch.Generator().manual_seed(7), dtype=torch.float64
    ).T
    quat = random_rotations(5, gen).as_quat()  # (x, y, z, w), up to a common sign
    q = torch.stack([x, y, z, w], 1).numpy()
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs((quat * q).sum(1)), 1.0, atol=1e-12)
    assert len(random_rotations(0, rng)) == 0 and len(random_rotations(0, gen)) == 0
    with pytest.raises(ValueError):
        random_rotations(-1, rng)
