"""TIFF images and stacks (ImageJ flavour) with their voxel size in nanometres, via ``tifffile``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from flowem.errors import InputFileError
from flowem.io.arrays import check_finite
from flowem.io.atomic import atomic_path

_NM_PER_UNIT = {
    "nm": 1.0,
    "nanometer": 1.0,
    "micron": 1e3,
    "um": 1e3,
    "\\u00b5m": 1e3,
    "µm": 1e3,
    "mm": 1e6,
    "a": 0.1,
    "angstrom": 0.1,
}


def read_tiff(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """Read a TIFF image or stack and its ``(z, y, x)`` voxel size in nm (None if unknown).

    ImageJ TIFFs store x/y resolution as pixels per unit and z as ``spacing``; a 2D image
    reports z = 1.0. Corrupt or truncated files raise :class:`InputFileError`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        with tifffile.TiffFile(path) as tif:
            data = tif.asarray()
            voxel = _imagej_voxel_size(tif)
    except (tifffile.TiffFileError, ValueError, OSError, EOFError, IndexError) as exc:
        raise InputFileError(path, f"not a readable TIFF file ({exc})") from exc
    if data.size == 0:
        raise InputFileError(path, "TIFF file holds no data")
    check_finite(data, path)
    return data, voxel


def _imagej_voxel_size(tif: tifffile.TiffFile) -> tuple[float, float, float] | None:
    meta = tif.imagej_metadata
    tags = tif.pages[0].tags
    if not meta or "XResolution" not in tags:
        return None
    scale = _NM_PER_UNIT.get(str(meta.get("unit", "")).lower())
    if scale is None:
        return None
    xnum, xden = tags["XResolution"].value
    ynum, yden = tags["YResolution"].value if "YResolution" in tags else (xnum, xden)
    spacing = float(meta.get("spacing", 1.0))
    return (spacing * scale, scale * yden / ynum, scale * xden / xnum)


def write_tiff(
    path: str | Path, data: np.ndarray, voxel_size_nm: tuple[float, float, float] | None = None
) -> Path:
    """Write an ImageJ TIFF atomically; ``voxel_size_nm`` is ``(z, y, x)`` in nanometres."""
    path = Path(path)
    check_finite(np.asarray(data), path, "data to write")
    kwargs: dict = {"imagej": True}
    if voxel_size_nm is not None:
        z, y, x = voxel_size_nm
        kwargs["resolution"] = (1.0 / x, 1.0 / y)
        kwargs["metadata"] = {"spacing": z, "unit": "nm"}
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, **kwargs)
    return path
