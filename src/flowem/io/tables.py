"""Tables (CSV / Parquet by suffix) and JSON documents, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flowem.errors import InputFileError
from flowem.io.atomic import atomic_path


def write_table(path: str | Path, df: pd.DataFrame) -> Path:
    """Write ``df`` to ``.csv`` or ``.parquet`` (chosen by the suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix in {".csv", ".tsv"}:
            df.to_csv(tmp, index=False, sep="\t" if path.suffix == ".tsv" else ",")
        else:
            raise ValueError(f"{path}: unknown table suffix (use .csv, .tsv or .parquet)")
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table`; raises :class:`InputFileError` if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    except Exception as exc:  # pandas/pyarrow raise many types on malformed input
        raise InputFileError(path, f"not a readable table ({exc})") from exc


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically; numpy scalars and arrays are converted."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_to_jsonable) + "\n")
    return path


def read_json(path: str | Path) -> Any:
    """Read a JSON document; unreadable files raise :class:`InputFileError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"not a readable JSON file ({exc})") from exc
