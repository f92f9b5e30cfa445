"""Real data: the Thon rings of the 7 EMPIAR-10076 particles sit where their STAR files put
the CTF zeros (checks wavelength, chi, astigmatism handling and the STAR parsing together)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from flowem.io import read_mrc, star_particles
from flowem.physics.ctf import Optics, aberration_phase, frequency_grid, linear_ctf

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "particles"
STACK, STAR = DATA / "empiar_10076_7.mrc", DATA / "empiar_10076_7.star"
BAND = (0.035, 0.2)  # 1/A: from before the first zero to ~5 A


@pytest.fixture(scope="module")
def spectra():
    if not (STACK.is_file() and STAR.is_file()):
        pytest.skip("EMPIAR-10076 mirror data not available")
    stack, _ = read_mrc(STACK)
    table = star_particles(STAR)
    size, pixel = stack.shape[-1], float(table["pixel_size_a"].iloc[0])
    power = np.abs(np.fft.fft2(stack - stack.mean(axis=(1, 2), keepdims=True))) ** 2
    k, theta = frequency_grid((size, size), pixel)
    # divide out the smooth radial fall-off (median per ring, smoothed) to keep the rings only
    ring = np.round(k.numpy() * size * pixel).astype(int)
    profile = np.asarray(ndimage.median(power.mean(0), ring, index=np.arange(ring.max() + 1)))
    flat = power.mean(0) / ndimage.uniform_filter1d(profile, 9)[ring]
    return flat, k, theta, table


def ctf_squared(k, theta, table, scale: float) -> np.ndarray:
    """Mean over particles of the STAR-parameter CTF^2, with every defocus times ``scale``."""
    first = table.iloc[0]
    optics = Optics(first.rlnVoltage, first.rlnSphericalAberration, first.rlnAmplitudeContrast)
    column = lambda name: torch.tensor(table[name].to_numpy(dtype=float))  # noqa: E731
    chi = aberration_phase(
        k,
        theta,
        optics,
        column("rlnDefocusU") * scale,
        column("rlnDefocusV") * scale,
        column("rlnDefocusAngle"),
    )
    return (linear_ctf(chi, k, optics) ** 2).mean(0).numpy()


def test_power_spectrum_minima_at_star_ctf_zeros(spectra):
    flat, k, theta, table = spectra
    band = (k.numpy() > BAND[0]) & (k.numpy() < BAND[1])
    ctf2 = ctf_squared(k, theta, table, 1.0)
    near_zero, near_peak = flat[band & (ctf2 < 0.1)].mean(), flat[band & (ctf2 > 0.9)].mean()
    assert near_zero < 0.92 * near_peak
    # the STAR defocus is the best of a +-10 % scan
    assert (
        table[["rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast"]].nunique().max() == 1
    )
    scales = np.round(np.arange(0.90, 1.101, 0.02), 2)
    scores = [np.corrcoef(flat[band], ctf_squared(k, theta, table, s)[band])[0, 1] for s in scales]
    assert abs(scales[int(np.argmax(scores))] - 1.0) <= 0.02
    assert max(scores) > 0.08
