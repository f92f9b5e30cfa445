"""The per-particle metadata table shared by simulated and real particles."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: what the forward model needs of each particle (defocus, optics, pixel size, dose)
OPTICS_COLUMNS = (
    "defocus_u_a",
    "defocus_v_a",
    "astigmatism_angle_deg",
    "voltage_kv",
    "cs_mm",
    "amplitude_contrast",
    "pixel_size_a",
    "dose_e_per_a2",
)

#: optional per-particle CTF terms (RELION's rlnPhaseShift, rlnCtfBfactor, rlnCtfScalefactor),
#: each with the value that leaves the CTF unchanged: what a table without the column means
CTF_EXTRAS = {"phase_shift_deg": 0.0, "ctf_b_factor_a2": 0.0, "ctf_scale": 1.0}

#: columns, in order; quaternions are NaN for real particles (pose unknown)
COLUMNS = (
    "split",
    "index",
    "source",
    "image_name",
    "seed",
    *OPTICS_COLUMNS,
    *CTF_EXTRAS,
    "alpha",
    "quat_x",
    "quat_y",
    "quat_z",
    "quat_w",
)


def particle_table(**columns) -> pd.DataFrame:
    """Build the table from column arrays / scalars; missing quaternions become NaN, missing
    :data:`CTF_EXTRAS` their neutral value."""
    count = len(columns["defocus_u_a"])
    for name in ("quat_x", "quat_y", "quat_z", "quat_w"):
        columns.setdefault(name, np.full(count, np.nan))
    for name, neutral in CTF_EXTRAS.items():
        columns.setdefault(name, neutral)
    columns.setdefault("index", np.arange(count))
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"particle table lacks {missing}")
    return pd.DataFrame({name: columns[name] for name in COLUMNS})
