"""RELION STAR files through ``starfile``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import starfile

from flowem.errors import InputFileError


def read_star(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read every data block of a STAR file as ``{block name: DataFrame}``.

    RELION 3.1+ files give ``optics`` and ``particles``; older files a single unnamed block,
    returned under ``particles``. Unreadable or empty files raise :class:`InputFileError`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as exc:  # starfile raises many types on malformed text
        raise InputFileError(path, f"not a readable STAR file ({exc})") from exc
    tables = {
        (name or "particles"): df for name, df in blocks.items() if isinstance(df, pd.DataFrame)
    }
    if not tables or all(df.empty for df in tables.values()):
        raise InputFileError(path, "STAR file holds no data block")
    return tables


def require_columns(df: pd.DataFrame, columns: Iterable[str], path: str | Path, block: str) -> None:
    """Raise :class:`InputFileError` listing the ``columns`` missing from block ``block``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputFileError(path, f"STAR block '{block}' lacks column(s) {', '.join(missing)}")
