"""Command ``simulate-phase-maps``: training / validation / test phase maps of one structure.

Outputs in ``--outdir``: ``train.mrcs``, ``val.mrcs``, ``test.mrcs`` (radians, working pixel
size in the header), ``poses.csv`` (one row per map: split, index, seed, rotation quaternion
``quat_x, quat_y, quat_z, quat_w`` in scipy's scalar-last order, the rotation R applied to the
centred model before projecting along z) and ``config.json``. Splits draw their rotations from
disjoint seed streams ``(seed, split_code)``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from flowem.command import command_parser, guarded, parse
from flowem.errors import ConfigError
from flowem.io import read_structure, write_mrc, write_table
from flowem.physics.atoms import ScatteringAtoms, atoms_from_structure
from flowem.physics.phase import PhaseMapGeometry, PhaseMapSimulator
from flowem.physics.potential import narrowest_sigma_px
from flowem.physics.rotations import random_rotations
from flowem.physics.solvent import ice_mean_potential_v
from flowem.runtime import pick_device, rng, setup_logging, write_run_config
from flowem.settings import check_positive, resolve_params

log = logging.getLogger("flowem")

STAGE = "simulate_phase_maps"
#: splits and their seed streams; ``heldout`` measures the prior, ``val``/``test`` become particles
SPLIT_CODES = {"train": 0, "val": 1, "test": 2, "heldout": 3}

DEFAULTS: dict[str, Any] = {
    "n_train": 2000,
    "n_val": 16,
    "n_test": 128,
    "n_heldout": 256,
    "size_px": 256,
    "pixel_size_a": 1.31,
    "bin_factor": 4,
    "voltage_kv": 300.0,
    "b_factor_a2": 50.0,
    "hydrogens": False,
    "waters": False,
    "solvent": True,
    "pad_factor": 2.0,
    "interpolation_order": 3,
    "batch_size": 64,
    "device": "cpu",
}

#: keys shared with ``simulate-particles``, which re-creates the same maps at full size
GEOMETRY_KEYS = (
    "size_px",
    "pixel_size_a",
    "bin_factor",
    "voltage_kv",
    "b_factor_a2",
    "hydrogens",
    "waters",
    "solvent",
    "pad_factor",
    "interpolation_order",
)


def geometry_from(params: dict[str, Any]) -> PhaseMapGeometry:
    """The maps' sampling from the stage parameters (bad combinations are a ConfigError)."""
    if params["interpolation_order"] not in (2, 3):
        raise ConfigError(f"{STAGE}: interpolation_order must be 2 or 3")
    try:
        return PhaseMapGeometry(
            size_px=int(params["size_px"]),
            pixel_size_a=float(params["pixel_size_a"]),
            bin_factor=int(params["bin_factor"]),
            voltage_kv=float(params["voltage_kv"]),
            pad_factor=float(params["pad_factor"]),
            interpolation_order=int(params["interpolation_order"]),
        )
    except ValueError as exc:
        raise ConfigError(f"{STAGE}: {exc}") from exc


def load_atoms(path: str | Path, params: dict[str, Any]) -> ScatteringAtoms:
    """Protein atoms of ``path`` with the configured B-factor, hydrogens and waters."""
    return atoms_from_structure(
        read_structure(path),
        b_factor_a2=float(params["b_factor_a2"]),
        hydrogens=bool(params["hydrogens"]),
        waters=bool(params["waters"]),
        source=path,
    )


def make_simulator(
    atoms: ScatteringAtoms, params: dict[str, Any], device: str | torch.device = "cpu"
) -> PhaseMapSimulator:
    """The maps' simulator; ``solvent``: of the excess potential over the displaced ice."""
    ice_v = ice_mean_potential_v() if params["solvent"] else 0.0
    return PhaseMapSimulator(atoms, geometry_from(params), device, ice_potential_v=ice_v)


def split_rotations(seed: int, split: str, count: int):
    """The rotations of one split: stream ``(seed, split_code)``."""
    return random_rotations(count, rng(seed, SPLIT_CODES[split]))


def pose_table(seed: int, split: str, rotations) -> pd.DataFrame:
    quats = rotations.as_quat().reshape(-1, 4)
    return pd.DataFrame(
        {
            "split": split,
            "index": np.arange(len(quats)),
            "seed": seed,
            "quat_x": quats[:, 0],
            "quat_y": quats[:, 1],
            "quat_z": quats[:, 2],
            "quat_w": quats[:, 3],
        }
    )


def simulate_split(
    simulator: PhaseMapSimulator, rotations, batch_size: int, label: str
) -> np.ndarray:
    """Binned phase maps (N, h, w) float32 for ``rotations``, in batches with a progress bar."""
    size = simulator.geometry.working_size_px
    out = np.empty((len(rotations), size, size), dtype=np.float32)
    for lo in tqdm(range(0, len(rotations), batch_size), desc=label, unit="batch", leave=False):
        with torch.no_grad():
            out[lo : lo + batch_size] = simulator.binned(rotations[lo : lo + batch_size]).cpu()
    return out


def _check(params: dict[str, Any]) -> None:
    check_positive(
        params,
        STAGE,
        "size_px",
        "pixel_size_a",
        "bin_factor",
        "voltage_kv",
        "pad_factor",
        "batch_size",
    )
    for key in ("n_train", "n_val", "n_test", "n_heldout"):
        if int(params[key]) < 0:
            raise ConfigError(f"{STAGE}: '{key}' must be >= 0")


@dataclass
class PhaseMaps:
    """The maps of every split, their poses and pixel size (A)."""

    maps: dict[str, np.ndarray]
    poses: pd.DataFrame
    pixel_size_a: float


def run(params: dict[str, Any], structure: str | Path, seed: int) -> PhaseMaps:
    """Phase maps of every split of ``structure`` (``params``: the resolved stage section)."""
    atoms = load_atoms(structure, params)
    geometry = geometry_from(params)
    sigma_px = narrowest_sigma_px(atoms, geometry.pixel_size_a)
    if sigma_px < 0.5:
        log.warning(
            "narrowest Gaussian is %.2f px wide: raise b_factor_a2 for accurate sums", sigma_px
        )
    if 2 * atoms.max_radius_a() > geometry.size_px * geometry.pixel_size_a:
        log.warning(
            "model (diameter %.0f A) is wider than the box (%.0f A): maps wrap around",
            2 * atoms.max_radius_a(),
            geometry.size_px * geometry.pixel_size_a,
        )
    start = time.perf_counter()
    simulator = make_simulator(atoms, params, pick_device(params["device"]))
    log.info(
        "%d atoms, potential FFT %d^3, set up in %.1f s",
        atoms.n_atoms,
        simulator.projector.padded_size,
        time.perf_counter() - start,
    )

    maps, tables = {}, []
    for split in SPLIT_CODES:
        count = int(params[f"n_{split}"])
        rotations = split_rotations(seed, split, count)
        tic = time.perf_counter()
        maps[split] = simulate_split(simulator, rotations, int(params["batch_size"]), split)
        log.info("%s: %d maps in %.1f s", split, count, time.perf_counter() - tic)
        tables.append(pose_table(seed, split, rotations))
    return PhaseMaps(maps, pd.concat(tables, ignore_index=True), geometry.working_pixel_size_a)


def write(result: PhaseMaps, outdir: Path, figure: str | None) -> None:
    for split, stack in result.maps.items():
        write_mrc(outdir / f"{split}.mrcs", stack, result.pixel_size_a)
    write_table(outdir / "poses.csv", result.poses)
    if figure and len(result.maps["test"]):
        from flowem.data.figures import montage

        shown = result.maps["test"][:16]
        montage(
            shown,
            figure,
            title="Simulated phase maps (test split)",
            labels=[f"test {i}" for i in range(len(shown))],
            colorbar_label="phase (rad)",
        )


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem simulate-phase-maps", __doc__, outdir="output folder", threads=True
    )
    parser.add_argument("--structure", required=True, help="PDB/mmCIF atomic model")
    parser.add_argument("--figure", default=None, help="optional montage (PNG)")
    args, params = parse(parser, argv, DEFAULTS)
    params = resolve_params(params, DEFAULTS, STAGE)
    _check(params)
    setup_logging(args.log)
    result = run(params, args.structure, args.seed)
    outdir = Path(args.outdir)
    write(result, outdir, args.figure)
    write_run_config(
        outdir,
        {"stage": STAGE, "seed": args.seed, "params": params, "structure": str(args.structure)},
    )
    log.info("wrote %s", outdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
