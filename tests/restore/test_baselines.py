"""Classical baselines: exact on easy inputs, and the grid search picks the best point."""

from __future__ import annotations

import numpy as np
import torch

from flowem.physics.operators import AreaDownsample, Blur, Decimate, gaussian_psf
from flowem.restore.baselines import Context, bicubic, linear_z, tune, wiener


def test_interpolations_reproduce_smooth_ramps_at_odd_sizes():
    """A linear ramp is restored exactly by bicubic (interior) and linear-z interpolation."""
    rows = np.arange(23, dtype=np.float64)[:, None] * np.ones((1, 17)) / 23
    z = Decimate(4, dim=-2).forward(torch.from_numpy(rows)[None, None])[0, 0].numpy()
    restored = linear_z(z, Context((23, 17), 4))
    assert restored.shape == (23, 17)
    assert np.allclose(restored[:21], rows[:21])  # up to the last measured row (20)
    y = AreaDownsample(3).forward(torch.from_numpy(rows)[None, None])[0, 0].numpy()
    up = bicubic(y, Context((23, 17), 3))
    assert up.shape == (23, 17)
    # block j covers rows [3j, 3j + 3): its mean sits at row 3j + 1, where bicubic is exact;
    # a half-pixel misalignment would err by 0.5 / 23 = 0.022 everywhere
    assert np.abs(up[1:20:3] - rows[1:20:3]).max() < 1e-6
    assert np.abs(up[5:18] - rows[5:18]).max() < 0.005


def test_wiener_inverts_our_blur_model():
    """skimage's Wiener filter uses the same circular, centred PSF convention as Blur."""
    gen = np.random.default_rng(0)
    x = gen.normal(size=(32, 32))
    psf = gaussian_psf(1.0)
    y = Blur(psf).forward(torch.from_numpy(x)[None, None])[0, 0].numpy()
    restored = wiener(y, Context((32, 32), psf=psf), balance=1e-12)
    assert np.abs(restored - x).max() < 1e-3 * np.abs(x).max()  # a 1 px offset errs by ~x


def test_tune_returns_the_grid_point_with_the_best_psnr():
    truth = [np.linspace(-1, 1, 64).reshape(8, 8)]

    def scale(y, ctx, factor):
        return y * factor

    grid = {"factor": [0.5, 1.0, 1.9]}
    params, score = tune(scale, grid, [truth[0] / 2], truth, Context((8, 8)))
    assert params == {"factor": 1.9} and score > 20
