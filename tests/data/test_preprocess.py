import json
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile

from flowem.data import preprocess
from flowem.data.particle_table import COLUMNS
from flowem.io import read_mrc

MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "particles"
CTF = {
    "rlnDefocusU": 15000.0,
    "rlnDefocusV": 14000.0,
    "rlnDefocusAngle": 30.0,
    "rlnVoltage": 300.0,
    "rlnSphericalAberration": 2.7,
    "rlnAmplitudeContrast": 0.07,
}


def synthetic_stack(count=3, size=64, bright=False, seed=0) -> np.ndarray:
    """RELION-normalised images: unit noise plus a disc of radius size/6 (dark unless bright)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((size, size)) - (size - 1) / 2
    disc = (np.hypot(yy, xx) < size / 6) * (1.0 if bright else -1.0)
    return (rng.normal(size=(count, size, size)) + disc).astype(np.float32)


def write_inputs(tmp_path, stack, optics_block=True, drop=(), rows=None):
    stack_path, star_path = tmp_path / "parts.mrcs", tmp_path / "parts.star"
    with mrcfile.new(stack_path, overwrite=True) as mrc:
        mrc.set_data(stack)
    count = len(stack) if rows is None else rows
    particles = pd.DataFrame(
        {
            "rlnImageName": [f"{i + 1}@parts.mrcs" for i in range(count)],
            **{k: [v] * count for k, v in CTF.items()},
        }
    )
    if optics_block:  # RELION 3.1: voltage, Cs, Q0 and pixel size in the optics table
        shared = ["rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast"]
        optics = pd.DataFrame(
            {"rlnOpticsGroup": [1], "rlnImagePixelSize": [1.0], **{k: [CTF[k]] for k in shared}}
        )
        particles = particles.drop(columns=shared).assign(rlnOpticsGroup=1)
        blocks = {"optics": optics, "particles": particles.drop(columns=list(drop))}
    else:  # RELION 2: one block, pixel size from detector pixel (um) / magnification
        particles = particles.assign(rlnDetectorPixelSize=5.0, rlnMagnification=50000.0)
        blocks = {"": particles.drop(columns=list(drop))}
    starfile.write(blocks, star_path, overwrite=True)
    return stack_path, star_path


def run(stack_path, star_path, out_dir, **params):
    return preprocess.main(
        [
            "--stack",
            str(stack_path),
            "--star",
            str(star_path),
            "--outdir",
            str(out_dir),
            "--params",
            json.dumps({"pixel_size_a": 2.0, "size_px": 24, **params}),
        ]
    )


@pytest.mark.parametrize("optics_block", [True, False])
def test_star_parsing_downsampling_and_counts(tmp_path, optics_block):
    stack_path, star_path = write_inputs(tmp_path, synthetic_stack(), optics_block)
    assert run(stack_path, star_path, tmp_path / "out", dose_e_per_a2=25.0) == 0
    counts, voxel = read_mrc(tmp_path / "out" / "counts.mrcs")
    assert counts.shape == (3, 24, 24) and voxel == pytest.approx(2.0)
    table = pd.read_csv(tmp_path / "out" / "particles.csv")
    assert tuple(table.columns) == COLUMNS
    assert table.loc[
        0, ["defocus_u_a", "defocus_v_a", "astigmatism_angle_deg", "cs_mm"]
    ].tolist() == [15000.0, 14000.0, 30.0, 2.7]
    alpha = 25.0 * 2.0**2
    assert (table["alpha"] == alpha).all()
    yy, xx = np.indices((24, 24)) - 11.5
    solvent = np.hypot(yy, xx) > 0.8 * 12
    assert counts[:, solvent].mean() == pytest.approx(alpha, rel=1e-6)
    assert counts[:, solvent].std() == pytest.approx(np.sqrt(alpha), rel=0.05)
    assert counts[:, np.hypot(yy, xx) < 4].mean() < alpha - 0.5 * np.sqrt(alpha)  # dark particle


def test_bright_particles_are_inverted_automatically(tmp_path):
    stack_path, star_path = write_inputs(tmp_path, synthetic_stack(bright=True))
    assert run(stack_path, star_path, tmp_path / "out") == 0
    counts, _ = read_mrc(tmp_path / "out" / "counts.mrcs")
    yy, xx = np.indices((24, 24)) - 11.5
    assert counts[:, np.hypot(yy, xx) < 4].mean() < counts[:, np.hypot(yy, xx) > 10].mean()
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["config"]["contrast_inverted"] is True


def test_fourier_crop_keeps_band_limited_content():
    yy, xx = np.indices((64, 64))
    image = 3.0 + np.cos(2 * np.pi * (3 * xx + 2 * yy) / 64)
    cropped = preprocess.fourier_crop(image, 32)
    yy, xx = np.indices((32, 32))
    np.testing.assert_allclose(
        cropped, 3.0 + np.cos(2 * np.pi * (3 * xx + 2 * yy) / 32), atol=1e-12
    )


def test_binning_method(tmp_path):
    stack = synthetic_stack()
    stack_path, star_path = write_inputs(tmp_path, stack)
    image, pixel = preprocess.downsample(stack[0].astype(float), 1.0, 2.0, "bin")
    np.testing.assert_allclose(image[0, 0], stack[0, :2, :2].mean(), rtol=1e-6)
    assert pixel == 2.0
    assert run(stack_path, star_path, tmp_path / "bad", pixel_size_a=2.5, downsample="bin") == 1
    assert not (tmp_path / "bad").exists()


def test_star_missing_ctf_columns_writes_nothing(tmp_path, capsys):
    stack_path, star_path = write_inputs(tmp_path, synthetic_stack(), drop=("rlnDefocusV",))
    assert run(stack_path, star_path, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "parts.star" in err and "rlnDefocusV" in err
    assert not (tmp_path / "out").exists()


def test_stack_count_not_matching_star_writes_nothing(tmp_path, capsys):
    stack_path, star_path = write_inputs(tmp_path, synthetic_stack(count=3), rows=4)
    assert run(stack_path, star_path, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "4 particles" in err and "3 images" in err
    assert not (tmp_path / "out").exists()


def test_real_empiar_10076_particles(tmp_path):
    stack, star = MIRROR / "empiar_10076_7.mrc", MIRROR / "empiar_10076_7.star"
    if not (stack.is_file() and star.is_file()):
        pytest.skip("EMPIAR-10076 mirror data not available")
    out = tmp_path / "real"
    assert (
        preprocess.main(
            [
                "--stack",
                str(stack),
                "--star",
                str(star),
                "--outdir",
                str(out),
                "--figure",
                str(tmp_path / "real.png"),
            ]
        )
        == 0
    )
    counts, voxel = read_mrc(out / "counts.mrcs")
    assert counts.shape == (7, 64, 64)
    assert voxel == pytest.approx(5.24, abs=0.01)  # 320 px at 1.31 A -> 80 px, cropped to 64
    table = pd.read_csv(out / "particles.csv")
    assert table["defocus_u_a"].between(15000, 15400).all()
    assert (table["voltage_kv"] == 300).all() and (table["amplitude_contrast"] == 0.07).all()
