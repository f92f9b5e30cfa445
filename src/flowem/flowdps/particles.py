"""A particle set on disk: counts stack, particle table and (for simulations) the true phase."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from flowem.data.particle_table import OPTICS_COLUMNS
from flowem.errors import InputFileError
from flowem.io import read_mrc, read_table, require_columns
from flowem.physics.ctf import Optics
from flowem.physics.forward import MicroscopeForward

TABLE_COLUMNS = OPTICS_COLUMNS


@dataclass
class ParticleSet:
    counts: np.ndarray  # (N, H, W) electron counts
    table: pd.DataFrame
    truth: np.ndarray | None  # (N, H, W) phase in radians, when known
    pixel_size_a: float
    source: Path

    def __len__(self) -> int:
        return len(self.counts)

    def subset(self, indices: np.ndarray) -> ParticleSet:
        truth = None if self.truth is None else self.truth[indices]
        table = self.table.iloc[indices].reset_index(drop=True)
        return ParticleSet(self.counts[indices], table, truth, self.pixel_size_a, self.source)


def load_particles(
    counts_path: str | Path,
    table_path: str | Path,
    truth_path: str | Path | None = None,
    image_size: int | None = None,
) -> ParticleSet:
    """Read and cross-check a particle set; every problem names the offending file.

    ``image_size`` (the prior's) must match the stack's image size.
    """
    counts, voxel = read_mrc(counts_path)  # rejects NaN/Inf, truncation
    if counts.ndim == 2:
        counts = counts[None]
    if counts.ndim != 3:
        raise InputFileError(counts_path, f"expected an (N, H, W) stack, got shape {counts.shape}")
    if counts.min() < 0:
        raise InputFileError(counts_path, "electron counts must be non-negative")
    if image_size is not None and counts.shape[1:] != (image_size, image_size):
        raise InputFileError(
            counts_path,
            f"images are {counts.shape[2]} x {counts.shape[1]} px but the prior was trained on "
            f"{image_size} x {image_size}",
        )
    table = read_table(table_path)
    require_columns(table, TABLE_COLUMNS, table_path, "particles")
    if len(table) != len(counts):
        raise InputFileError(
            table_path, f"{len(table)} rows for {len(counts)} images in {counts_path}"
        )
    if table["dose_e_per_a2"].nunique() > 1:
        raise InputFileError(table_path, "particles of one set must share one dose")
    truth = None
    if truth_path is not None:
        truth, _ = read_mrc(truth_path)
        if truth.shape != counts.shape:
            raise InputFileError(truth_path, f"shape {truth.shape} differs from {counts.shape}")
    pixel = float(table["pixel_size_a"].iloc[0]) if len(table) else voxel
    return ParticleSet(counts, table, truth, pixel, Path(counts_path))


def optics_of(table: pd.DataFrame, b_envelope_a2: float = 0.0) -> Optics:
    """The optics of the particles in ``table``: the first row's microscope, and the envelope
    ``b_envelope_a2`` where > 0, else the table's ``ctf_b_factor_a2`` (RELION's
    ``rlnCtfBfactor``; the simulation records its envelope there; the operator holds one
    envelope, so a batch of several uses their mean)."""
    row = table.iloc[0]
    if b_envelope_a2 <= 0 and "ctf_b_factor_a2" in table:
        b_envelope_a2 = max(0.0, float(table.ctf_b_factor_a2.mean()))
    return Optics(
        voltage_kv=float(row.voltage_kv),
        cs_mm=float(row.cs_mm),
        amplitude_contrast=float(row.amplitude_contrast),
        b_envelope_a2=b_envelope_a2,
    )


def operator_for(
    particles: ParticleSet,
    indices: np.ndarray,
    *,
    repeat: int = 1,
    pad_factor: float = 2.0,
    b_envelope_a2: float = 0.0,
    device: torch.device | str = "cpu",
) -> MicroscopeForward:
    """The forward operator of particles ``indices``, each repeated ``repeat`` times in a row."""
    rows = particles.table.iloc[indices]
    du, dv, angle = (
        torch.tensor(rows[name].to_numpy(dtype=np.float64)).repeat_interleave(repeat)
        for name in TABLE_COLUMNS[:3]
    )
    dose = float(rows.dose_e_per_a2.iloc[0])
    shape = particles.counts.shape[1:]
    shift = None
    if "phase_shift_deg" in rows and rows.phase_shift_deg.any():
        shift = torch.tensor(rows.phase_shift_deg.to_numpy(dtype=np.float64))
        shift = shift.repeat_interleave(repeat)
    op = MicroscopeForward(
        optics_of(rows, b_envelope_a2),
        shape,
        particles.pixel_size_a,
        dose,
        du,
        dv,
        angle,
        pad_factor=pad_factor,
        phase_shift_deg=shift,
    )
    return op.to(device)
