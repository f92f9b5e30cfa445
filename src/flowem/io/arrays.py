"""Validation of arrays read from or written to files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flowem.errors import InputFileError


def check_finite(array: np.ndarray, path: str | Path, what: str = "data") -> np.ndarray:
    """Raise :class:`InputFileError` naming ``path`` if ``array`` holds NaN or Inf."""
    if np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating):
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputFileError(
                path, f"{what} holds {int(bad.sum())} non-finite values (first at index {first})"
            )
    return array


def check_ndim(
    array: np.ndarray, path: str | Path, ndims: Sequence[int], what: str = "data"
) -> None:
    """Raise :class:`InputFileError` if ``array.ndim`` is not one of ``ndims``."""
    if array.ndim not in ndims:
        allowed = " or ".join(f"{n}D" for n in ndims)
        raise InputFileError(path, f"{what} has shape {array.shape}; expected {allowed}")
