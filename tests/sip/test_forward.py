"""Forward maps: the nanocluster renderer, ANM modes, the protein projector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowem.data.normal_modes import anm_modes
from flowem.physics.rotations import random_rotations
from flowem.sip.forward_1d import AdditiveNoise
from flowem.sip.nanocluster import NanoclusterRenderer
from flowem.sip.protein import NormalModeProjector, load_calpha


def test_renderer_matches_direct_sum_of_gaussians():
    tau, n = 0.5, 128
    theta = torch.tensor([[3.0, 5.0], [4.5, -2.0]], dtype=torch.float64)
    images = NanoclusterRenderer(tau, 1.5, n).clean(theta).numpy()
    g = -4 + 8 * np.arange(n) / n
    gx, gy = np.meshgrid(g, g, indexing="ij")  # g_ij = (-4 + 8i/n, -4 + 8j/n)
    for image, (t1, t2) in zip(images, theta.numpy(), strict=True):
        a1 = np.array([t1, t2]) / 2
        atoms = [a1, a1 * [1, -1], a1 * [-1, 1], a1 * [-1, -1]]
        direct = sum(np.exp(-((a[0] - gx) ** 2 + (a[1] - gy) ** 2) / (2 * tau**2)) for a in atoms)
        np.testing.assert_allclose(image, direct, rtol=1e-10, atol=1e-12)


def test_noise_is_fresh_and_has_the_stated_sigma():
    gen = torch.Generator().manual_seed(0)
    renderer = NanoclusterRenderer(0.5, 1.5, 32)
    theta = torch.full((400, 2), 4.0)
    residual = renderer(theta, gen) - renderer.clean(theta)
    assert float(residual.std()) == pytest.approx(1.5, rel=0.02)
    a = AdditiveNoise(2.0)(torch.zeros(20000, 1), gen)
    assert float(a.std()) == pytest.approx(2.0, rel=0.03)
    with pytest.raises(ValueError):
        AdditiveNoise(0.0)


def _chain(n: int = 30) -> np.ndarray:
    rng = np.random.default_rng(1)
    steps = rng.normal(size=(n, 3))
    steps = 3.8 * steps / np.linalg.norm(steps, axis=1, keepdims=True)
    coords = np.cumsum(steps, axis=0)
    return coords - coords.mean(axis=0)


def test_anm_modes_orthonormal_ascending_and_eigenvectors_of_prody_hessian():
    import prody

    coords = _chain()
    values, modes = anm_modes(coords, cutoff_a=15.0, n_modes=4)
    assert values.shape == (4,) and modes.shape == (4, len(coords), 3)
    assert np.all(values > 0) and np.all(np.diff(values) > 0)
    flat = modes.reshape(4, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(4), atol=1e-8)
    anm = prody.ANM("ref")
    anm.buildHessian(coords, cutoff=15.0)
    anm.calcModes(n_modes=4)
    np.testing.assert_allclose(values, anm.getEigvals(), rtol=1e-6)
    hessian = anm.getHessian()
    np.testing.assert_allclose(hessian @ flat.T, flat.T * values, atol=1e-8)


def test_projector_signal_scale_and_single_atom_image():
    coords = _chain(20)
    _, modes = anm_modes(coords, n_modes=2)
    proj = NormalModeProjector(coords, modes, pixel_size_a=2.0, grid_size=64, signal_rms=1.0)
    rot = torch.as_tensor(random_rotations(64, torch.Generator().manual_seed(12345)).as_matrix())
    rms = proj.clean(torch.zeros(64, 2), rot).pow(2).mean(dim=(1, 2)).sqrt().mean()
    assert float(rms) == pytest.approx(1.0, rel=1e-4)
    # one atom at the origin, identity rotation: a Gaussian centred on pixel (32, 32)
    single = NormalModeProjector(np.zeros((1, 3)), np.zeros((1, 1, 3)), grid_size=64)
    image = single.clean(torch.zeros(1, 1), torch.eye(3)[None])[0]
    assert tuple(np.unravel_index(int(image.argmax()), image.shape)) == (32, 32)


def test_hsp90_modes_from_the_mirror(mirror_dir):
    coords = load_calpha(mirror_dir / "pdb" / "2cg9.pdb", "AB")
    assert coords.shape == (1227, 3)
    np.testing.assert_allclose(coords.mean(axis=0), 0, atol=1e-9)
