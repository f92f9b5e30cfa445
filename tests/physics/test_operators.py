"""Degradation operators: exact adjoints, odd-size shapes, PSF normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flowem.physics.operators import (
    AreaDownsample,
    Blur,
    Decimate,
    Identity,
    defocus_psf,
    gaussian_psf,
)

OPERATORS = {
    "identity": Identity(),
    "sr2": AreaDownsample(2),
    "sr3": AreaDownsample(3),
    "sr4": AreaDownsample(4),
    "gaussian_blur": Blur(gaussian_psf(1.5)),
    "defocus_blur": Blur(defocus_psf(2.5)),
    "decimate_rows": Decimate(4, dim=-2),
}


def _adjoint_gap(op, shape, seed=0) -> float:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    ax = op.forward(x)
    y = torch.randn(ax.shape, generator=gen, dtype=torch.float64)
    aty = op.adjoint(y, tuple(x.shape))
    lhs, rhs = (ax * y).sum(), (x * aty).sum()
    return float(abs(lhs - rhs) / (abs(lhs) + abs(rhs)))


@pytest.mark.parametrize("name", sorted(OPERATORS))
@pytest.mark.parametrize("shape", [(2, 1, 24, 24), (2, 1, 23, 29)])
def test_adjointness(name, shape):
    """<A x, y> = <x, A^T y> to float64 precision, also for sizes not divisible by k."""
    assert _adjoint_gap(OPERATORS[name], shape) < 1e-12


def test_adjointness_of_volume_decimation():
    op = Decimate(3, dim=-3)
    assert _adjoint_gap(op, (1, 1, 10, 6, 7)) < 1e-12


def test_blur_adjoint_is_not_the_forward_for_an_asymmetric_psf():
    """The adjoint is correlation, not convolution: a shifted PSF makes them differ."""
    psf = np.zeros((5, 5))
    psf[2, 3] = 1.0  # shift by one pixel
    op = Blur(psf)
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    assert torch.allclose(op.forward(x), torch.roll(x, 1, dims=-1))
    assert torch.allclose(op.adjoint(x), torch.roll(x, -1, dims=-1))
    assert _adjoint_gap(op, (1, 1, 8, 8)) < 1e-12


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("size", [(12, 12), (13, 17), (7, 5)])
def test_area_downsample_odd_sizes(k, size):
    """ceil(H/k) outputs; a partial border block is the mean of the pixels that exist."""
    op = AreaDownsample(k)
    x = torch.rand(1, 1, *size, dtype=torch.float64)
    y = op.forward(x)
    assert y.shape[-2:] == (-(-size[0] // k), -(-size[1] // k))
    last = x[0, 0, (y.shape[-2] - 1) * k :, (y.shape[-1] - 1) * k :].mean()
    assert torch.isclose(y[0, 0, -1, -1], last)
    assert torch.allclose(op.forward(torch.ones(1, 1, *size)), torch.ones(y.shape))
    back = op.adjoint(y, x.shape)
    assert back.shape[-2:] == size


@pytest.mark.parametrize("length", [16, 17, 13])
def test_decimation_shapes(length):
    op = Decimate(4, dim=-2)
    x = torch.arange(length * 3, dtype=torch.float64).reshape(1, 1, length, 3)
    y = op.forward(x)
    assert y.shape[-2] == -(-length // 4)
    assert torch.equal(y[0, 0, :, 0], x[0, 0, ::4, 0])
    filled = op.adjoint(y, x.shape)
    assert filled.shape == x.shape
    assert torch.equal(filled[..., ::4, :], y) and filled[..., 1::4, :].abs().sum() == 0


def test_unit_data_step_is_non_expansive():
    """Power iteration on x -> data_gradient(x, 0): norm <= 1, so lr = 1 never diverges."""
    for name, op in OPERATORS.items():
        x = torch.randn(1, 1, 23, 29, dtype=torch.float64)
        for _ in range(25):
            x = op.data_gradient(x, torch.zeros_like(op.forward(x)))
            norm = x.norm()
            x = x / norm
        assert norm <= 1 + 1e-9, name


@pytest.mark.parametrize("name", ["identity", "sr3", "decimate_rows"])
def test_unit_data_step_solves_diagonal_problems(name):
    """Where A A^T is diagonal, x - data_gradient(x, y) satisfies A x = y exactly."""
    op = OPERATORS[name]
    x = torch.randn(1, 1, 23, 29, dtype=torch.float64)
    y = torch.randn(op.forward(x).shape, dtype=torch.float64)
    assert torch.allclose(op.forward(x - op.data_gradient(x, y)), y)


def test_psfs_are_normalised_and_centred():
    for psf in (gaussian_psf(2.0), defocus_psf(3.0)):
        assert psf.sum() == pytest.approx(1.0)
        c = psf.shape[0] // 2
        assert psf[c, c] == psf.max()
        assert np.allclose(psf, psf[::-1, ::-1])


@pytest.mark.parametrize("name", sorted(OPERATORS))
@pytest.mark.parametrize("weight", [0.3, 20.0])
def test_proximal_step_solves_its_least_squares_problem(name, weight):
    """x = prox(v) minimises ||x - v||^2 + w ||A x - y||^2: the gradient vanishes there."""
    op = OPERATORS[name]
    v = torch.randn(2, 1, 23, 29, dtype=torch.float64)
    y = torch.randn(op.forward(v).shape, dtype=torch.float64)
    x = op.proximal(v, y, weight)
    gradient = (x - v) + weight * op.adjoint(op.forward(x) - y, tuple(x.shape))
    assert gradient.abs().max() < 1e-10
    torch.testing.assert_close(op.proximal(v, y, 0.0), v, rtol=0, atol=1e-12)  # FFT round trip


@pytest.mark.parametrize("name", ["identity", "sr3", "decimate_rows"])
def test_noiseless_proximal_step_is_the_projection_onto_the_data(name):
    """weight = inf: A x = y exactly, and x - v lies in the range of A^T (closest point)."""
    op = OPERATORS[name]
    v = torch.randn(1, 1, 23, 29, dtype=torch.float64)
    y = torch.randn(op.forward(v).shape, dtype=torch.float64)
    x = op.proximal(v, y, math.inf)
    torch.testing.assert_close(op.forward(x), y, rtol=0, atol=1e-12)
    # the projection moves v only within range(A^T): removing that component returns v's
    # null-space part unchanged
    null_v = v - op.data_gradient(v, torch.zeros_like(y))
    null_x = x - op.data_gradient(x, torch.zeros_like(y))
    torch.testing.assert_close(null_x, null_v, rtol=0, atol=1e-12)


def test_blur_proximal_with_large_weight_approaches_the_least_squares_fit():
    """Capped weight 1e6: residual at most ||x|| / (2 sqrt(1e6)) per frequency."""
    op = OPERATORS["gaussian_blur"]
    x = torch.randn(1, 1, 24, 24, dtype=torch.float64)
    y = op.forward(x)
    fitted = op.proximal(torch.zeros_like(x), y, 1e6)
    assert (op.forward(fitted) - y).norm() < 1e-2 * y.norm()
    torch.testing.assert_close(op.proximal(torch.zeros_like(x), y, math.inf), fitted)
    loose = op.proximal(torch.zeros_like(x), y, 1.0)
    assert (op.forward(loose) - y).norm() > (op.forward(fitted) - y).norm()
