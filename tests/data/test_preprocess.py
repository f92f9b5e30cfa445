import json
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile

from flowem.data import preprocess, relion
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


def test_fourier_resample_keeps_band_limited_content():
    yy, xx = np.indices((64, 64))
    image = 3.0 + np.cos(2 * np.pi * (3 * xx + 2 * yy) / 64)
    cropped = preprocess.fourier_resample(image, 2.0, 32)
    yy, xx = np.indices((32, 32))
    np.testing.assert_allclose(
        cropped, 3.0 + np.cos(2 * np.pi * (3 * xx + 2 * yy) / 32), atol=1e-12
    )


def test_binning_method(tmp_path):
    stack = synthetic_stack()
    stack_path, star_path = write_inputs(tmp_path, stack)
    image, pixel = preprocess.downsample(stack[0].astype(float), 1.0, 2.0, "bin", 32)
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


def gaussian_blob(size, pixel_a, sigma_a, centre_px, noise=1e-3, seed=0) -> np.ndarray:
    """A bright Gaussian of ``sigma_a`` at ``centre_px`` ((y, x)) plus weak white noise."""
    yy, xx = np.indices((size, size))
    r2 = ((yy - centre_px[0]) ** 2 + (xx - centre_px[1]) ** 2) * pixel_a**2
    blob = np.exp(-r2 / (2 * sigma_a**2))
    return (blob + noise * np.random.default_rng(seed).normal(size=blob.shape)).astype(np.float32)


def write_stack(path, images):
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.asarray(images, dtype=np.float32))


def centroid(image: np.ndarray) -> np.ndarray:
    weight = np.clip(image - np.median(image), 0, None)
    return np.array([(np.indices(image.shape)[a] * weight).sum() / weight.sum() for a in (0, 1)])


def test_relion_30_block_of_any_name_with_images_named_in_the_star(tmp_path):
    """``data_model_class_1``, no --stack: images come from the files rlnImageName names,
    relative to the STAR file's folder, in the STAR file's order."""
    a, b = synthetic_stack(count=2, seed=1), synthetic_stack(count=2, seed=2)
    write_stack(tmp_path / "stacks" / "a.mrcs", a)
    write_stack(tmp_path / "stacks" / "b.mrcs", b)
    names = ["2@stacks/b.mrcs", "1@stacks/a.mrcs", "1@stacks/b.mrcs"]
    rows = pd.DataFrame({"rlnImageName": names, **{k: [v] * 3 for k, v in CTF.items()}})
    rows = rows.assign(rlnDetectorPixelSize=5.0, rlnMagnification=50000.0)
    star = tmp_path / "run_it025_data.star"
    starfile.write({"model_class_1": rows}, star)
    images = relion.particle_images(rows["rlnImageName"], None, star)
    np.testing.assert_array_equal(images, np.stack([b[1], a[0], b[0]]))
    out = tmp_path / "out"
    args = ["--star", str(star), "--outdir", str(out), "--params", '{"pixel_size_a": 2.0}']
    args += ["--override", "size_px=24"]
    assert preprocess.main(args) == 0
    table = pd.read_csv(out / "particles.csv")
    assert table["image_name"].tolist() == names
    assert (table[["phase_shift_deg", "ctf_b_factor_a2", "ctf_scale"]] == [0, 0, 1]).all().all()


def test_two_optics_groups_give_one_exact_pixel_size(tmp_path):
    """RELION 3.1, groups at 1.0 A (300 kV) and 1.25 A (200 kV): the same 6 A blob comes out
    alike from both at exactly 2 A/px, each row with its group's optics and CTF extras."""
    images = [gaussian_blob(64, 1.0, 6.0, (32, 32)), gaussian_blob(64, 1.25, 6.0, (32, 32))]
    write_stack(tmp_path / "parts.mrcs", images)
    optics = pd.DataFrame(
        {
            "rlnOpticsGroup": [1, 2],
            "rlnOpticsGroupName": ["opticsGroup1", "opticsGroup2"],
            "rlnImagePixelSize": [1.0, 1.25],
            "rlnVoltage": [300.0, 200.0],
            "rlnSphericalAberration": [2.7, 2.0],
            "rlnAmplitudeContrast": [0.07, 0.1],
        }
    )
    particles = pd.DataFrame(
        {
            "rlnImageName": ["1@parts.mrcs", "2@parts.mrcs"],
            "rlnOpticsGroup": [1, 2],
            "rlnDefocusU": [15000.0, 12000.0],
            "rlnDefocusV": [14000.0, 11000.0],
            "rlnDefocusAngle": [30.0, 10.0],
            "rlnPhaseShift": [0.0, 87.5],
            "rlnCtfBfactor": [0.0, 40.0],
            "rlnCtfScalefactor": [1.0, 0.9],
        }
    )
    starfile.write({"optics": optics, "particles": particles}, tmp_path / "parts.star")
    stack, star = tmp_path / "parts.mrcs", tmp_path / "parts.star"
    assert run(stack, star, tmp_path / "out", invert_contrast=False) == 0
    counts, voxel = read_mrc(tmp_path / "out" / "counts.mrcs")
    table = pd.read_csv(tmp_path / "out" / "particles.csv")
    assert voxel == pytest.approx(2.0, abs=1e-6) and (table["pixel_size_a"] == 2.0).all()
    assert table["voltage_kv"].tolist() == [300.0, 200.0]
    assert table["amplitude_contrast"].tolist() == [0.07, 0.1]
    assert table["phase_shift_deg"].tolist() == [0.0, 87.5]
    assert table["ctf_b_factor_a2"].tolist() == [0.0, 40.0]
    assert table["ctf_scale"].tolist() == [1.0, 0.9]
    signal = counts - counts[:, :2].mean(axis=(1, 2), keepdims=True)
    # one group's pixel size used for both would make the blobs differ by 25 % in width
    assert np.abs(signal[0] - signal[1]).max() < 0.02 * signal[0].max()


@pytest.mark.parametrize(
    ("relion", "method", "centre"),
    [("3.0", "fourier", 12), ("3.1", "fourier", 12), ("3.1", "bin", 11.75)],
)
def test_origins_recentre_the_particle(tmp_path, relion, method, centre):
    """RELION's origin: the particle sits at the box centre minus the origin; it comes back
    centred (sub-pixel), in pixels for 3.0 and in A for 3.1 (2 x 2 binning puts input pixel
    32 at 15.75, cropped to 11.75)."""
    pixel, origin = 1.25, np.array([5.5, -3.25])  # (x, y) px
    image = gaussian_blob(64, pixel, 8.0, (32 - origin[1], 32 - origin[0]))
    write_stack(tmp_path / "parts.mrcs", image[None])
    row = {"rlnImageName": ["1@parts.mrcs"], **{k: [v] for k, v in CTF.items()}}
    if relion == "3.0":
        rows = pd.DataFrame({**row, "rlnOriginX": [origin[0]], "rlnOriginY": [origin[1]]})
        rows = rows.assign(rlnDetectorPixelSize=pixel, rlnMagnification=1e4)
    else:
        rows = pd.DataFrame(
            {**row, "rlnOriginXAngst": [origin[0] * pixel], "rlnOriginYAngst": [origin[1] * pixel]}
        ).assign(rlnImagePixelSize=pixel)
    starfile.write({"images": rows}, tmp_path / "parts.star")
    args = tmp_path / "parts.mrcs", tmp_path / "parts.star", tmp_path / "out"
    params = {"pixel_size_a": 2.5, "size_px": 24, "invert_contrast": False, "downsample": method}
    assert run(*args, **params) == 0
    counts, _ = read_mrc(tmp_path / "out" / "counts.mrcs")
    np.testing.assert_allclose(centroid(counts.reshape(24, 24)), [centre, centre], atol=0.05)


def test_output_pixel_size_is_the_configured_one_exactly(tmp_path):
    """A 200 px stack at 1.338 A to 10.48 A/px (a Fourier crop gives 10.29): the resampled
    blob is the analytic one on the 10.48 A grid; the 268 A box fills 24 of the 32 px, the
    rest is padding at ``alpha`` that the solvent statistics leave out."""
    blob = gaussian_blob(200, 1.338, 20.0, (100, 100), noise=0.0)
    resampled = preprocess.fourier_resample(blob.astype(float), 10.48 / 1.338, 24)
    r = (np.indices((24, 24)) - 12) * 10.48
    np.testing.assert_allclose(resampled, np.exp(-(r**2).sum(0) / 800.0), atol=2e-4)
    write_stack(tmp_path / "parts.mrcs", synthetic_stack(count=2, size=200))
    rows = pd.DataFrame(
        {"rlnImageName": ["1@parts.mrcs", "2@parts.mrcs"], **{k: [v] * 2 for k, v in CTF.items()}}
    )
    starfile.write({"": rows.assign(rlnImagePixelSize=1.338)}, tmp_path / "parts.star")
    args = tmp_path / "parts.mrcs", tmp_path / "parts.star", tmp_path / "out"
    assert run(*args, pixel_size_a=10.48, size_px=32) == 0
    counts, voxel = read_mrc(tmp_path / "out" / "counts.mrcs")
    table = pd.read_csv(tmp_path / "out" / "particles.csv")
    alpha = 50 * 10.48**2
    assert counts.shape == (2, 32, 32) and voxel == pytest.approx(10.48, abs=1e-5)
    assert (table["pixel_size_a"] == 10.48).all() and (table["alpha"] == alpha).all()
    assert (counts[:, :4] == np.float32(alpha)).all() and (counts[:, 4:28, 4:28] != alpha).all()
    assert counts[:, 4:28, 4:6].std() == pytest.approx(np.sqrt(alpha), rel=0.1)


def test_truncated_star_fails_naming_it_and_the_log_says_so(tmp_path, capsys):
    stack_path, star_path = write_inputs(tmp_path, synthetic_stack())
    text = star_path.read_text().rstrip()
    star_path.write_text(text[: text.rindex("\t")] + "\n")
    log = tmp_path / "logs" / "preprocess.log"
    assert (
        preprocess.main(
            [
                "--stack",
                str(stack_path),
                "--star",
                str(star_path),
                "--outdir",
                str(tmp_path / "o"),
                "--log",
                str(log),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "parts.star: row 3" in err and "truncated" in err
    assert "parts.star: row 3" in log.read_text()
