"""A RELION particle set as the preprocessing reads it: checked metadata rows and their images.

Rows come from :func:`flowem.io.star_particles` (any RELION 3.0 or 3.1 STAR file); the images
from one given stack, or from the files ``rlnImageName`` (``index@file``) names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from flowem.errors import InputFileError
from flowem.io import read_mrc, require_columns, star_particles

CTF_COLUMNS = (
    "rlnDefocusU",
    "rlnDefocusV",
    "rlnDefocusAngle",
    "rlnVoltage",
    "rlnSphericalAberration",
    "rlnAmplitudeContrast",
)

#: optional RELION CTF columns -> particle table columns (absent: the neutral CTF_EXTRAS value)
RELION_CTF_EXTRAS = {
    "rlnPhaseShift": "phase_shift_deg",
    "rlnCtfBfactor": "ctf_b_factor_a2",
    "rlnCtfScalefactor": "ctf_scale",
}


def checked_particles(star_path: Path) -> pd.DataFrame:
    """:func:`flowem.io.star_particles` with the CTF columns required and finite."""
    particles = star_particles(star_path)
    require_columns(particles, ("rlnImageName", *CTF_COLUMNS), star_path, "particles")
    numeric = [*CTF_COLUMNS, *(c for c in RELION_CTF_EXTRAS if c in particles)]
    values = particles[[*numeric, "origin_x_px", "origin_y_px"]].astype(float).to_numpy()
    if not np.isfinite(values).all():
        raise InputFileError(star_path, "non-finite CTF values or origins")
    return particles


def particle_images(names: pd.Series, stack_path: Path | None, star_path: Path) -> np.ndarray:
    """The images ``rlnImageName`` ('N@file', N from 1) names, ``(N, H, W)``: all from
    ``stack_path`` when given, else from each named file, relative to the STAR file's folder."""
    try:
        index = np.array([int(str(name).split("@")[0]) - 1 for name in names])
    except ValueError as exc:
        raise InputFileError(star_path, f"unreadable rlnImageName ({exc})") from exc
    if stack_path is not None:
        files = pd.Series(str(stack_path), index=names.index)
    else:
        files = names.astype(str).str.partition("@")[2].map(lambda f: str(star_path.parent / f))
    images = None
    for path, rows in files.groupby(files, sort=False).groups.items():
        positions = names.index.get_indexer(rows)
        stack, _ = read_mrc(path)  # header pixel size is often unset: the STAR's is used
        stack = stack[None] if stack.ndim == 2 else stack
        if stack.ndim != 3 or stack.shape[1] != stack.shape[2]:
            raise InputFileError(path, f"expected a stack of square images, got {stack.shape}")
        wanted = index[positions]
        if wanted.min() < 0 or wanted.max() >= len(stack):
            raise InputFileError(
                star_path,
                f"{len(names)} particles in the STAR file refer to images outside "
                f"1..{len(stack)}: {path} holds {len(stack)} images",
            )
        if images is None:
            images = np.empty((len(names), *stack.shape[1:]), np.float32)
        elif images.shape[1:] != stack.shape[1:]:
            raise InputFileError(path, f"images of {stack.shape[1:]} px, others {images.shape[1:]}")
        images[positions] = stack[wanted]
    return images
