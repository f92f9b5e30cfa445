import json

import numpy as np
import pytest

from flowem.data import calibration


def test_white_background_has_a_flat_normalised_spectrum():
    images = np.random.default_rng(0).normal(size=(8, 128, 128))
    mask = calibration.background_mask(128, 0.8)
    z = calibration.standardise(images, mask)
    assert np.allclose(z[:, mask].std(axis=1), 1.0)
    k, power = calibration.ring_spectrum(z, mask, 1.0, 0.02, 0.45)
    assert k[0] >= 0.02 and k[-1] <= 0.45
    assert np.abs(power / power.mean() - 1).max() < 0.25
    # no particle: the excess variance inside the disc is about 0 (per kDa: times area / mass)
    excess = calibration.contrast_per_kda(z, mask, 1.0, 8.0, 100.0) * 100.0 / (~mask).sum()
    assert abs(excess) < 0.03


def test_mirror_particles_show_thon_minima_at_the_ctf_zeros(mirror_dir, toy_pdb, tmp_path):
    """On the real EMPIAR-10076 particles the background minima sit at the CTF zeros (the
    estimator works), and every output is written."""
    out = tmp_path / "cal"
    code = calibration.main(
        [
            "--structure",
            str(toy_pdb),
            "--stack",
            str(mirror_dir / "particles" / "empiar_10076_7.mrc"),
            "--star",
            str(mirror_dir / "particles" / "empiar_10076_7.star"),
            "--outdir",
            str(out),
            "--figure",
            str(out / "figure.png"),
            "--params",
            json.dumps({"n_simulated": 2}),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    width = summary["ring_width_inv_a"]
    for zero, found in zip(
        summary["ctf_zeros_inv_a"][:4], summary["minima_real_inv_a"], strict=False
    ):
        assert found == pytest.approx(zero, abs=2 * width)
    spectra = (out / "spectra.csv").read_text().splitlines()
    assert spectra[0].startswith("k_inv_a") and len(spectra) == summary["rings"] + 1
    assert (out / "figure.png").stat().st_size > 0
