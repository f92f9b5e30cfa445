"""MRC images, stacks and volumes with their voxel size (angstrom), through ``mrcfile``."""

from __future__ import annotations

import warnings
from pathlib import Path

import mrcfile
import numpy as np

from flowem.errors import InputFileError
from flowem.io.arrays import check_finite
from flowem.io.atomic import atomic_path


def read_mrc(path: str | Path, *, allow_nonfinite: bool = False) -> tuple[np.ndarray, float]:
    """Read an MRC file as float32 and return ``(data, voxel_size_a)``.

    ``voxel_size_a`` is the x voxel size in angstrom; 0.0 means the header leaves it unset
    (take it from the STAR file then). A missing, corrupt or truncated file, or one holding
    NaN/Inf, raises :class:`InputFileError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with mrcfile.open(path, mode="r", permissive=False) as mrc:
                data = np.asarray(mrc.data, dtype=np.float32).copy()
                voxel_size = float(mrc.voxel_size.x)
    except (ValueError, RuntimeWarning, OSError, EOFError) as exc:
        raise InputFileError(path, f"not a readable MRC file ({exc})") from exc
    if data.size == 0:
        raise InputFileError(path, "MRC file holds no data")
    if not allow_nonfinite:
        check_finite(data, path)
    return data, voxel_size


def write_mrc(path: str | Path, data: np.ndarray, voxel_size_a: float) -> Path:
    """Write ``data`` as float32 MRC with voxel size ``voxel_size_a`` (angstrom), atomically.

    A 3D array written to a ``.mrcs`` file is marked as an image stack; to ``.mrc`` as a volume.
    """
    path = Path(path)
    data = np.ascontiguousarray(data, dtype=np.float32)
    check_finite(data, path, "data to write")
    if not voxel_size_a > 0:
        raise ValueError(f"{path}: voxel size must be positive, got {voxel_size_a}")
    with atomic_path(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(data)
            if data.ndim == 3 and path.suffix == ".mrcs":
                mrc.set_image_stack()
            mrc.voxel_size = voxel_size_a
            # mrcfile stamps the creation time into label 0: a fixed label keeps the same
            # data byte-identical from run to run
            mrc.header.label[0] = b"flowem"
    return path
