"""``restore-image``: reading a user's TIFF/MRC, its pixel size, resampling, clear errors, and
the command end to end with a tiny untrained prior."""

from __future__ import annotations

import json
import warnings

import mrcfile
import numpy as np
import pytest
import tifffile
from tests.restore.test_run import TINY

from flowem.errors import InputFileError
from flowem.io import write_mrc, write_tiff
from flowem.prior.checkpoint import save_prior_model
from flowem.prior.dataset import Normaliser
from flowem.prior.network import VelocityNet
from flowem.restore.user_image import grid_shape, main, read_user_image, resample


@pytest.fixture
def tiny_model(tmp_path):
    """An untrained tiny prior (the network of test_run)."""
    state = VelocityNet(TINY).state_dict()
    return save_prior_model(tmp_path / "ema.pt", TINY, state, Normaliser(0.5), 1, {})


def cells(size: int = 24) -> np.ndarray:
    """Bright-membrane (SEM-like) toy in [0, 1]: dark cells, thin bright walls."""
    yy, xx = np.mgrid[:size, :size]
    image = 0.3 + 0.05 * np.sin(xx / 3.0) + 0.03 * np.cos(yy / 2.0)
    image[(yy % 8 < 1) | (xx % 10 < 1)] = 0.9
    return image


def test_pixel_size_comes_from_each_header(tmp_path):
    image = np.zeros((8, 8), np.uint16)
    imagej = write_tiff(tmp_path / "imagej.tif", image, (1.0, 6.0, 6.0))
    plain = tmp_path / "plain.tif"  # baseline tags: 2e6 px per cm = 5 nm
    tifffile.imwrite(plain, image, resolution=(2e6, 2e6), resolutionunit="CENTIMETER")
    editor = tmp_path / "editor.tif"  # 72 dpi: what an editor writes when it knows none
    tifffile.imwrite(editor, image, resolution=(72, 72), resolutionunit="INCH")
    mrc = write_mrc(tmp_path / "image.mrc", image.astype(np.float32), 40.0)
    assert read_user_image(imagej).pixel_nm == pytest.approx(6.0)
    assert read_user_image(plain).pixel_nm == pytest.approx(5.0)
    assert read_user_image(editor).pixel_nm is None
    assert read_user_image(mrc).pixel_nm == pytest.approx(4.0)
    assert read_user_image(imagej).slices.dtype == np.uint16  # the stored dtype is kept


def test_resampling_keeps_the_physical_field_of_view():
    """A Gaussian spot of 40 nm std at (300, 200) nm keeps its width and place in nm."""
    pixel, target, n = 8.0, 3.0, 64
    centres = (np.arange(n) + 0.5) * pixel
    spot = np.exp(-((centres[:, None] - 300) ** 2 + (centres[None, :] - 200) ** 2) / (2 * 40**2))
    shape = grid_shape((n, n), pixel, target)
    assert shape == (171, 171) and abs(shape[0] * target - n * pixel) <= target / 2
    fine = resample(spot, shape)
    axis = (np.arange(shape[0]) + 0.5) * (n * pixel / shape[0])
    weights = fine / fine.sum()
    rows, cols = (weights.sum(1) * axis).sum(), (weights.sum(0) * axis).sum()
    width = np.sqrt((weights.sum(1) * (axis - rows) ** 2).sum())
    assert (rows, cols) == (pytest.approx(300, abs=0.5), pytest.approx(200, abs=0.5))
    assert width == pytest.approx(40.0, rel=0.01)
    assert resample(fine, (n, n)) == pytest.approx(spot, abs=1e-2)  # and back, to 1 % of the peak


def run_main(tmp_path, image, name, *extra):
    out = tmp_path / name
    argv = ["--image", str(image), "--outdir", str(out), *extra]
    return main(argv), out


def test_a_nan_or_corrupt_image_is_an_error_naming_the_file(tmp_path, tiny_model, capsys):
    nan = tmp_path / "nan.mrc"
    data = np.ones((16, 16), np.float32)
    data[2, 3] = np.nan
    with warnings.catch_warnings(), mrcfile.new(nan) as mrc:
        warnings.simplefilter("ignore", RuntimeWarning)  # mrcfile warns of the NaN we write
        mrc.set_data(data)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + b"\x07" * 40)
    no_pixel = tmp_path / "no_pixel.tif"
    tifffile.imwrite(no_pixel, (cells() * 255).astype(np.uint8))
    cases = {nan: "non-finite", corrupt: "not a readable TIFF", no_pixel: "--pixel-nm"}
    for path, problem in cases.items():
        rc, out = run_main(tmp_path, path, f"out_{path.stem}", "--model", str(tiny_model))
        err = capsys.readouterr().err
        assert rc == 1 and str(path) in err and problem in err
        assert not out.exists()  # nothing written
    with pytest.raises(InputFileError, match="colour image"):
        read_user_image(write_tiff(tmp_path / "rgb.tif", np.zeros((20, 20, 3), np.uint8)))


def test_restore_image_is_equivariant_and_writes_on_the_image_grid(tmp_path, tiny_model):
    """A bright-membrane uint16 SEM-like image at 8 nm, sr2 on a 4 nm prior: the output is
    twice as fine (4 nm, 48 px), inverted for the prior and back (recorded); the same image
    scaled by 3 and offset by 1000 restores to the scaled restoration (sigma estimated)."""
    base = np.round(cells() * 15000 + 2000).astype(np.uint16)
    params = json.dumps({"sampler": {"method": "dc", "steps": 4}, "user": {"prior_pixel_nm": 4.0}})
    common = ["--model", str(tiny_model), "--task", "sr2", "--params", params, "--seed", "3"]
    outs = []
    for k, image in enumerate((base, base * 3 + 1000)):
        path = write_tiff(tmp_path / f"user{k}.tif", image.astype(np.uint16), (1.0, 8.0, 8.0))
        rc, out = run_main(tmp_path, path, f"out{k}", *common)
        assert rc == 0
        outs.append(out)
    restored = [read_user_image(out / "restored.tif") for out in outs]
    assert restored[0].slices.shape == (1, 48, 48) and restored[0].pixel_nm == pytest.approx(4.0)
    record = json.loads((outs[0] / "normalisation.json").read_text())["slices"][0]
    assert record["polarity"] == "bright" and record["polarity_chosen"] == "auto"
    assert record["dtype"] == "uint16" and record["noise_std_source"] == "estimated"
    config = json.loads((outs[0] / "restore_image_config.json").read_text())["config"]
    assert config["resolved"]["measured_pixel_nm"] == 8.0 and not config["resolved"]["resampled"]
    first, second = restored[0].slices[0], restored[1].slices[0]
    assert first.std() > 100  # a real image, not a constant
    assert np.allclose(second, 3 * first + 1000, rtol=0, atol=1e-3 * 3 * 15000)
    # given a 6 nm pixel instead, the image is resampled to 8 nm first (18 -> 24 px measured)
    rc, out = run_main(tmp_path, outs[0].parent / "user0.tif", "out6", *common, "--pixel-nm", "6")
    resolved = json.loads((out / "restore_image_config.json").read_text())["config"]["resolved"]
    assert rc == 0 and resolved["resampled"] and resolved["pixel_nm_source"] == "given"
    assert json.loads((out / "normalisation.json").read_text())["slices"][0]["measured_shape"] == [
        18,
        18,
    ]
    assert read_user_image(out / "restored.tif").slices.shape == (1, 48, 48)
