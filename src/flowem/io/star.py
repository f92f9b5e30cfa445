"""RELION STAR files through ``starfile``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from flowem.errors import InputFileError

#: columns that mark a loop with rlnOpticsGroup as RELION 3.1's optics table
OPTICS_MARKERS = (
    "rlnImagePixelSize",
    "rlnVoltage",
    "rlnSphericalAberration",
    "rlnAmplitudeContrast",
)


def read_star(path: str | Path) -> dict[str, pd.DataFrame]:
    """Read every data block of a STAR file as ``{block name: DataFrame}``.

    RELION 3.1+ files give ``optics`` and ``particles``; older files a single block, often
    unnamed (returned under ``particles``). Unreadable, empty or truncated files (a loop row
    with too few values) raise :class:`InputFileError`.
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
    for name, df in tables.items():
        short = df.isna().any(axis=1).to_numpy()  # a loop row cut short reads as missing values
        if short.any():
            raise InputFileError(
                path,
                f"row {short.argmax() + 1} of STAR block '{name}' lacks values "
                "(truncated or malformed file)",
            )
    return tables


def require_columns(df: pd.DataFrame, columns: Iterable[str], path: str | Path, block: str) -> None:
    """Raise :class:`InputFileError` listing the ``columns`` missing from block ``block``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputFileError(path, f"STAR block '{block}' lacks column(s) {', '.join(missing)}")


def star_particles(path: str | Path) -> pd.DataFrame:
    """One row per particle image of a RELION STAR file: RELION's columns, plus

    - ``pixel_size_a``: ``rlnImagePixelSize``, or ``rlnDetectorPixelSize`` (um) * 1e4 /
      ``rlnMagnification``;
    - ``origin_x_px``, ``origin_y_px``: ``rlnOriginX/Y`` (RELION 3.0, pixels) or
      ``rlnOriginX/YAngst`` (3.1, A) in pixels, 0 when absent. RELION's convention: the
      particle's centre lies at the box centre minus the origin, so shifting the image by
      +origin centres it (``relion_stack_create --apply_transformation``).

    Blocks are told by their columns, whatever their names: the particles are the loop with
    ``rlnImageName`` (RELION 3.0 writes that one block: ``data_``, ``data_images``,
    ``data_model_class_1``, ...); RELION 3.1 adds an optics loop (``rlnOpticsGroup`` with the
    pixel size or optics columns) whose values join each particle by its optics group (a
    particle's own column wins).
    """
    blocks = read_star(path)
    particles = _one_block(blocks, _holds_particles, "particles", path)
    if particles is None or particles.empty:
        raise InputFileError(
            path, f"no STAR block holds particles (rows with rlnImageName); blocks: {list(blocks)}"
        )
    optics = _one_block(blocks, _holds_optics, "optics groups", path)
    particles = particles.reset_index(drop=True)
    if optics is not None:
        particles = _join_optics(particles, optics, path)
    if "rlnImagePixelSize" in particles:
        pixel = particles["rlnImagePixelSize"].astype(float)
    elif {"rlnDetectorPixelSize", "rlnMagnification"} <= set(particles.columns):
        pixel = (
            particles["rlnDetectorPixelSize"].astype(float)
            * 1e4
            / particles["rlnMagnification"].astype(float)
        )
    else:
        raise InputFileError(
            path,
            "STAR file gives no pixel size (rlnImagePixelSize, or "
            "rlnDetectorPixelSize and rlnMagnification)",
        )
    if not (np.isfinite(pixel) & (pixel > 0)).all():
        raise InputFileError(path, "non-finite or non-positive pixel size")
    particles["pixel_size_a"] = pixel
    for axis in ("X", "Y"):
        if f"rlnOrigin{axis}Angst" in particles:
            origin = particles[f"rlnOrigin{axis}Angst"].astype(float) / pixel
        else:
            origin = particles.get(f"rlnOrigin{axis}", pd.Series(0.0, index=particles.index))
        particles[f"origin_{axis.lower()}_px"] = origin.astype(float)
    return particles


def _holds_particles(df: pd.DataFrame) -> bool:
    return "rlnImageName" in df


def _holds_optics(df: pd.DataFrame) -> bool:
    return (
        "rlnOpticsGroup" in df
        and not _holds_particles(df)
        and any(column in df for column in OPTICS_MARKERS)
    )


def _one_block(blocks, wanted, what: str, path) -> pd.DataFrame | None:
    """The one block for which ``wanted(df)`` holds, None if none; two are ambiguous."""
    found = [name for name, df in blocks.items() if wanted(df)]
    if len(found) > 1:
        raise InputFileError(path, f"STAR blocks {found} all look like {what}: which one?")
    return blocks[found[0]] if found else None


def _join_optics(particles: pd.DataFrame, optics: pd.DataFrame, path) -> pd.DataFrame:
    """Each particle row with its optics group's columns (the particle's own columns win)."""
    extra = [c for c in optics.columns if c not in particles.columns]
    if "rlnOpticsGroup" not in particles:
        if len(optics) != 1:
            raise InputFileError(
                path, f"{len(optics)} optics groups but the particles give no rlnOpticsGroup"
            )
        return particles.assign(**{c: optics[c].iloc[0] for c in extra})
    if optics["rlnOpticsGroup"].duplicated().any():
        raise InputFileError(path, "an optics group is listed twice in the optics block")
    groups = optics.set_index(optics["rlnOpticsGroup"].astype(str))[extra]
    key = particles["rlnOpticsGroup"].astype(str)
    unknown = sorted(set(key) - set(groups.index))
    if unknown:
        raise InputFileError(path, f"particles refer to optics group(s) {unknown} not listed")
    return pd.concat([particles, groups.loc[key].reset_index(drop=True)], axis=1)
