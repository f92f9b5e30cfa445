"""IO: round trips keep data and voxel size; corrupt inputs give errors naming the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import starfile

from flowem.errors import InputFileError
from flowem.io import (
    atomic_path,
    read_mrc,
    read_star,
    read_structure,
    read_table,
    read_tiff,
    require_columns,
    star_particles,
    write_json,
    write_mrc,
    write_table,
    write_tiff,
)


@pytest.mark.parametrize(
    ("name", "shape"), [("stack.mrcs", (5, 12, 16)), ("vol.mrc", (6, 8, 10)), ("image.mrc", (9, 7))]
)
def test_mrc_round_trip_keeps_voxel_size(tmp_path, name, shape):
    data = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    write_mrc(tmp_path / name, data, voxel_size_a=1.31)
    back, voxel = read_mrc(tmp_path / name)
    np.testing.assert_array_equal(back, data)
    assert voxel == pytest.approx(1.31, rel=1e-6)


def test_mrcs_is_marked_as_image_stack(tmp_path):
    import mrcfile

    write_mrc(tmp_path / "s.mrcs", np.zeros((3, 4, 4), np.float32), 2.0)
    with mrcfile.open(tmp_path / "s.mrcs") as mrc:
        assert mrc.is_image_stack()


def test_truncated_mrc_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.mrc"
    write_mrc(path, np.ones((4, 32, 32), np.float32), 1.0)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputFileError, match=r"cut\.mrc: not a readable MRC file"):
        read_mrc(path)


def test_garbage_mrc_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.mrc"
    path.write_bytes(b"this is not an MRC file" * 100)
    with pytest.raises(InputFileError, match=r"junk\.mrc"):
        read_mrc(path)


def test_nonfinite_mrc_is_rejected_with_index(tmp_path):
    import mrcfile

    data = np.zeros((2, 4, 4), np.float32)
    data[1, 2, 3] = np.nan
    with mrcfile.new(tmp_path / "nan.mrc") as mrc:
        mrc.set_data(data)
    with pytest.raises(
        InputFileError, match=r"nan\.mrc: data holds 1 non-finite values.*\(1, 2, 3\)"
    ):
        read_mrc(tmp_path / "nan.mrc")


def test_writers_refuse_nonfinite_and_leave_nothing(tmp_path):
    data = np.ones((4, 4), np.float32)
    data[0, 0] = np.inf
    with pytest.raises(InputFileError):
        write_mrc(tmp_path / "x.mrc", data, 1.0)
    with pytest.raises(InputFileError):
        write_tiff(tmp_path / "x.tif", data)
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_tiff_round_trip_keeps_voxel_size(tmp_path):
    data = np.random.default_rng(1).integers(0, 255, size=(3, 16, 20), dtype=np.uint8)
    write_tiff(tmp_path / "v.tif", data, voxel_size_nm=(50.0, 4.0, 4.0))
    back, voxel = read_tiff(tmp_path / "v.tif")
    np.testing.assert_array_equal(back, data)
    assert voxel == pytest.approx((50.0, 4.0, 4.0), rel=1e-4)


def test_truncated_tiff_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.tif"
    write_tiff(path, np.ones((4, 64, 64), np.float32))
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(InputFileError, match=r"cut\.tif"):
        read_tiff(path)


def test_isbi_volume_voxel_size(mirror_dir):
    data, voxel = read_tiff(mirror_dir / "em" / "isbi2012_train_volume.tif")
    assert data.shape == (30, 512, 512) and data.dtype == np.uint8
    assert voxel == pytest.approx((50.0, 4.0, 4.0))


def test_star_round_trip_and_missing_columns(tmp_path):
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnVoltage": [300.0]})
    particles = pd.DataFrame({"rlnDefocusU": [15000.0, 16000.0], "rlnOpticsGroup": [1, 1]})
    starfile.write({"optics": optics, "particles": particles}, tmp_path / "p.star")
    blocks = read_star(tmp_path / "p.star")
    pd.testing.assert_frame_equal(blocks["particles"], particles, check_dtype=False)
    require_columns(blocks["particles"], ["rlnDefocusU"], tmp_path / "p.star", "particles")
    with pytest.raises(
        InputFileError, match=r"p\.star: STAR block 'particles' lacks .*rlnDefocusV"
    ):
        require_columns(
            blocks["particles"], ["rlnDefocusU", "rlnDefocusV"], tmp_path / "p.star", "particles"
        )


def test_malformed_star_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.star"
    path.write_text("data_\nloop_\n_rlnDefocusU #1\n_rlnDefocusV #2\n")
    with pytest.raises(InputFileError, match=r"bad\.star"):
        read_star(path)


def test_relion_30_single_block_of_any_name(tmp_path):
    """RELION 3.0: one block, here ``data_model_class_1``; pixel size from detector and
    magnification; origins in pixels."""
    particles = pd.DataFrame(
        {
            "rlnImageName": ["1@s.mrcs", "2@s.mrcs"],
            "rlnDefocusU": [15000.0, 16000.0],
            "rlnDetectorPixelSize": [5.0, 5.0],
            "rlnMagnification": [40000.0, 40000.0],
            "rlnOriginX": [2.5, -1.0],
            "rlnOriginY": [0.0, 3.0],
        }
    )
    starfile.write({"model_class_1": particles}, tmp_path / "c.star")
    table = star_particles(tmp_path / "c.star")
    assert table["pixel_size_a"].tolist() == [1.25, 1.25]
    assert table["origin_x_px"].tolist() == [2.5, -1.0]
    assert table["origin_y_px"].tolist() == [0.0, 3.0]
    assert table["rlnDefocusU"].tolist() == [15000.0, 16000.0]


def test_relion_31_optics_groups_join_their_particles(tmp_path):
    """Blocks told by their columns (names here are neither 'optics' nor 'particles'); each
    particle gets its own group's pixel size and voltage; origins in A become pixels."""
    optics = pd.DataFrame(
        {
            "rlnOpticsGroup": [1, 2],
            "rlnImagePixelSize": [1.0, 1.25],
            "rlnVoltage": [300.0, 200.0],
            "rlnSphericalAberration": [2.7, 2.0],
        }
    )
    particles = pd.DataFrame(
        {
            "rlnImageName": ["1@s.mrcs", "2@s.mrcs", "3@s.mrcs"],
            "rlnOpticsGroup": [2, 1, 2],
            "rlnOriginXAngst": [2.5, 2.5, -5.0],
            "rlnOriginYAngst": [0.0, 1.0, 1.25],
        }
    )
    starfile.write({"groups": optics, "images": particles}, tmp_path / "p.star")
    table = star_particles(tmp_path / "p.star")
    assert table["pixel_size_a"].tolist() == [1.25, 1.0, 1.25]
    assert table["rlnVoltage"].tolist() == [200.0, 300.0, 200.0]
    assert table["rlnSphericalAberration"].tolist() == [2.0, 2.7, 2.0]
    assert table["origin_x_px"].tolist() == [2.0, 2.5, -4.0]
    assert table["origin_y_px"].tolist() == [0.0, 1.0, 1.0]
    particles["rlnOpticsGroup"] = [2, 3, 2]
    starfile.write({"groups": optics, "images": particles}, tmp_path / "q.star", overwrite=True)
    with pytest.raises(InputFileError, match=r"q\.star: .*optics group\(s\) \['3'\]"):
        star_particles(tmp_path / "q.star")


def test_star_without_particles_or_truncated_names_the_file(tmp_path):
    path = tmp_path / "cut.star"
    rows = pd.DataFrame({"rlnImageName": ["1@s.mrcs", "2@s.mrcs"], "rlnDefocusU": [1.0, 2.0]})
    starfile.write({"": rows}, path)
    text = path.read_text().rstrip()
    path.write_text(text[: text.rindex("\t")] + "\n")  # the last row loses its defocus
    with pytest.raises(InputFileError, match=r"cut\.star: row 2 .*truncated"):
        star_particles(path)
    starfile.write({"": rows.drop(columns="rlnImageName")}, path, overwrite=True)
    with pytest.raises(InputFileError, match=r"cut\.star: no STAR block holds particles"):
        star_particles(path)


def test_structure_reads_and_validates(toy_pdb):
    structure = read_structure(toy_pdb)
    assert structure[0].count_atom_sites() == 6 * 6 + 6 * 5 + 2


def test_malformed_pdb_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.pdb"
    path.write_text("HEADER    NOT REALLY A STRUCTURE\nREMARK nothing here\nEND\n")
    with pytest.raises(InputFileError, match=r"bad\.pdb: structure holds no atoms"):
        read_structure(path)


def test_nan_coordinates_are_rejected(tmp_path, toy_pdb):
    lines = toy_pdb.read_text().splitlines()
    lines[3] = lines[3][:30] + f"{'nan':>8}" + lines[3][38:]
    path = tmp_path / "nan.pdb"
    path.write_text("\n".join(lines))
    with pytest.raises(InputFileError, match=r"nan\.pdb: .*non-finite coordinates"):
        read_structure(path)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_table_round_trip(tmp_path, suffix):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]})
    write_table(tmp_path / f"t{suffix}", df)
    pd.testing.assert_frame_equal(read_table(tmp_path / f"t{suffix}"), df)


def test_json_converts_numpy(tmp_path):
    import json

    write_json(tmp_path / "m.json", {"x": np.float32(1.5), "v": np.arange(3)})
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 1.5, "v": [0, 1, 2]}


def test_mrc_writes_are_byte_identical(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    write_mrc(tmp_path / "a.mrcs", data, 2.0)
    write_mrc(tmp_path / "b.mrcs", data, 2.0)
    assert (tmp_path / "a.mrcs").read_bytes() == (tmp_path / "b.mrcs").read_bytes()
