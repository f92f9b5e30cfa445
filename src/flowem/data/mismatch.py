"""Command ``deform-structure``: the structure of the mismatched test particles.

The prior learns phase maps of one structure; real particles differ from it (flexibility,
another conformation). The mismatched test set is simulated from a structure that is not the
training one (``particles.mismatch.kind``):

- ``anm``: the training model deformed along its lowest ``n_modes`` non-trivial ANM normal
  modes (C-alpha network, ``cutoff_a``). Mode amplitudes are drawn ``z_i / sqrt(lambda_i)``
  (``z_i ~ N(0, 1)`` from stream ``(seed, 7)``, thermal-like: soft modes move most); every atom
  moves with its residue's C-alpha; the displacement is then scaled so that the all-atom RMSD
  to the training model (no superposition) is exactly ``rmsd_a``. The modes are orthogonal to
  rigid-body motions of the C-alpha network, so superposing hardly lowers that RMSD (reported).
- ``structure``: another structure file (``--other``, the fetched ``structure`` PDB ID),
  prepared like the training model and superposed on it by the C-alpha atoms the two share
  (chain, residue number); RMSD over those atoms reported.
- ``none``: the training model unchanged.

Writes into ``--outdir`` ``model.pdb``, ``summary.csv`` (kind, atoms, RMSDs in A) and
``config.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gemmi
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from flowem.command import command_parser, guarded, parse
from flowem.data.normal_modes import anm_modes
from flowem.data.structure import atom_positions, prepare_structure
from flowem.errors import ConfigError, InputFileError
from flowem.io import read_structure, write_pdb, write_table
from flowem.runtime import rng, setup_logging, write_run_config
from flowem.settings import check_positive, resolve_params

log = logging.getLogger("flowem")

STAGE = "deform_structure"
KINDS = ("none", "anm", "structure")
#: the random stream of the mode amplitudes (phase-map splits use 0-3)
MODE_STREAM = 7

DEFAULTS: dict[str, Any] = {
    "kind": "anm",
    "rmsd_a": 2.0,
    "n_modes": 10,
    "cutoff_a": 15.0,
    "structure": None,
    "hydrogens": False,
    "waters": False,
}


def residue_calpha(structure: gemmi.Structure) -> tuple[np.ndarray, np.ndarray]:
    """C-alpha coordinates ``(n_res, 3)`` and, per atom, the index of its residue's C-alpha.

    Atoms of a residue without C-alpha follow the nearest C-alpha.
    """
    calpha, owner, orphans = [], [], []
    for chain in structure[0]:
        for residue in chain:
            ca = residue.find_atom("CA", "*")
            for atom in residue:
                owner.append(len(calpha) if ca else -1)
                if not ca:
                    orphans.append(atom.pos.tolist())
            if ca:
                calpha.append(ca.pos.tolist())
    if len(calpha) < 3:
        raise ValueError("fewer than 3 C-alpha atoms: no normal modes")
    calpha, owner = np.asarray(calpha, dtype=np.float64), np.asarray(owner)
    if orphans:
        owner[owner < 0] = cKDTree(calpha).query(np.asarray(orphans))[1]
    return calpha, owner


def anm_displacement(
    structure: gemmi.Structure,
    rmsd_a: float,
    seed: int,
    n_modes: int = 10,
    cutoff_a: float = 15.0,
) -> np.ndarray:
    """Per-atom displacement ``(n_atoms, 3)`` (A) along random ANM modes, all-atom RMS
    ``rmsd_a``; the same ``seed`` gives the same displacement."""
    calpha, owner = residue_calpha(structure)
    values, modes = anm_modes(calpha, cutoff_a, n_modes)
    amplitudes = rng(seed, MODE_STREAM).standard_normal(len(values)) / np.sqrt(values)
    moved = np.einsum("k,kac->ac", amplitudes, modes)[owner]
    rms = float(np.sqrt((moved**2).sum(axis=1).mean()))
    return moved * (rmsd_a / rms) if rms > 0 else moved


def displaced(structure: gemmi.Structure, displacement: np.ndarray) -> gemmi.Structure:
    """A copy of ``structure`` with every atom of the first model moved by ``displacement``."""
    out = structure.clone()
    for cra, shift in zip(out[0].all(), displacement, strict=True):
        cra.atom.pos = gemmi.Position(*(np.array(cra.atom.pos.tolist()) + shift))
    return out


def rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """Root-mean-square distance (A) between paired coordinates, no superposition."""
    return float(np.sqrt(((np.asarray(a) - np.asarray(b)) ** 2).sum(axis=1).mean()))


def _calpha_by_id(structure: gemmi.Structure) -> dict[tuple, gemmi.Atom]:
    return {
        (chain.name, residue.seqid.num, residue.seqid.icode): ca
        for chain in structure[0]
        for residue in chain
        if (ca := residue.find_atom("CA", "*"))
    }


def superpose_on(
    other: gemmi.Structure, reference: gemmi.Structure
) -> tuple[gemmi.Structure, int, float]:
    """``other`` moved onto ``reference`` by the C-alpha atoms they share (chain, residue
    number): the moved copy, the shared atoms and their RMSD (A) after superposition."""
    ref, mov = _calpha_by_id(reference), _calpha_by_id(other)
    shared = sorted(set(ref) & set(mov))
    if len(shared) < 3:
        log.warning("structures share %d C-alpha atoms: not superposed", len(shared))
        return other.clone(), len(shared), float("nan")
    fit = gemmi.superpose_positions([ref[k].pos for k in shared], [mov[k].pos for k in shared])
    out = other.clone()
    out[0].transform_pos_and_adp(fit.transform)
    return out, len(shared), float(fit.rmsd)


def run(
    params: dict[str, Any], structure: str | Path, seed: int, other: str | Path | None = None
) -> tuple[gemmi.Structure, pd.DataFrame]:
    """The mismatched model of the (prepared, centred) training model ``structure``."""
    kind = params["kind"]
    model = read_structure(structure)
    summary: dict[str, Any] = {"kind": kind, "atoms": model[0].count_atom_sites()}
    if kind == "structure":
        if other is None:
            raise ConfigError(f"{STAGE}: kind 'structure' needs the other structure (--other)")
        options = {k: bool(params[k]) for k in ("hydrogens", "waters")}
        prepared = prepare_structure(read_structure(other), other, **options)
        result, shared, fitted = superpose_on(prepared, model)
        summary |= {"atoms": result[0].count_atom_sites(), "shared_calpha": shared}
        summary |= {"calpha_rmsd_superposed_a": fitted, "source": str(other)}
        return result, pd.DataFrame([summary])
    if kind == "none":
        return model.clone(), pd.DataFrame([{**summary, "rmsd_a": 0.0}])
    try:
        shift = anm_displacement(
            model, float(params["rmsd_a"]), seed, int(params["n_modes"]), float(params["cutoff_a"])
        )
    except ValueError as exc:
        raise InputFileError(structure, str(exc)) from exc
    result = displaced(model, shift)
    before, after = atom_positions(model), atom_positions(result)
    fit = gemmi.superpose_positions(
        [gemmi.Position(*p) for p in before], [gemmi.Position(*p) for p in after]
    )
    summary |= {"n_modes": int(params["n_modes"]), "rmsd_a": rmsd(before, after)}
    summary |= {"rmsd_superposed_a": float(fit.rmsd), "max_shift_a": float(np.abs(shift).max())}
    return result, pd.DataFrame([summary])


def _check(params: dict[str, Any]) -> None:
    if params["kind"] not in KINDS:
        raise ConfigError(f"{STAGE}: kind must be one of {KINDS}, got {params['kind']!r}")
    check_positive(params, STAGE, "n_modes", "cutoff_a")
    if float(params["rmsd_a"]) < 0:
        raise ConfigError(f"{STAGE}: 'rmsd_a' must be >= 0")


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem deform-structure", __doc__, outdir="output folder (model.pdb, summary.csv)"
    )
    parser.add_argument("--structure", required=True, help="the prepared training model")
    parser.add_argument("--other", default=None, help="another structure (kind 'structure')")
    args, params = parse(parser, argv, DEFAULTS)
    params = resolve_params(params, DEFAULTS, STAGE)
    _check(params)
    setup_logging(args.log)
    structure, summary = run(params, args.structure, args.seed, args.other)
    outdir = Path(args.outdir)
    write_pdb(outdir / "model.pdb", structure)
    write_table(outdir / "summary.csv", summary)
    write_run_config(
        outdir,
        {"stage": STAGE, "seed": args.seed, "params": params, "structure": str(args.structure)},
    )
    log.info("mismatch %s: %s", params["kind"], summary.iloc[0].to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
