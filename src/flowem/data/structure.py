"""``flowem check-structure``: validate an atomic model, keep what the simulation uses, centre it.

Writes into ``--outdir`` the centred model ``model.pdb`` (heavy atoms of protein by default;
hydrogens and waters on request) and a per-chain summary table ``summary.csv`` with the
model's extent, so the first real slice of the DAG checks the structure before any simulation
reads it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gemmi
import numpy as np
import pandas as pd

from flowem.command import command_parser, guarded, parse
from flowem.errors import InputFileError
from flowem.io import read_structure, write_pdb, write_table
from flowem.runtime import setup_logging, write_run_config

log = logging.getLogger("flowem")

#: keys of the ``structure`` config section that shape the model, with their defaults
DEFAULTS: dict[str, Any] = {"hydrogens": False, "waters": False}


def prepare_structure(
    structure: gemmi.Structure, path: str | Path, *, hydrogens: bool = False, waters: bool = False
) -> gemmi.Structure:
    """Keep the first model's protein (and optionally H and water), centred at its centroid.

    Raises :class:`InputFileError` naming ``path`` if no amino-acid residue remains.
    """
    structure = structure.clone()
    for i in range(len(structure) - 1, 0, -1):
        del structure[i]
    if not hydrogens:
        structure.remove_hydrogens()
    model = structure[0]
    for chain in model:
        for i in reversed(range(len(chain))):
            residue = chain[i]
            keep = waters if residue.is_water() else residue.entity_type == gemmi.EntityType.Polymer
            if not keep:
                del chain[i]
    structure.remove_empty_chains()
    n_protein = sum(
        1
        for chain in model
        for res in chain
        if (info := gemmi.find_tabulated_residue(res.name)) is not None and info.is_amino_acid()
    )
    if n_protein == 0:
        raise InputFileError(path, "structure holds no protein residues")
    xyz = atom_positions(structure)
    centroid = xyz.mean(axis=0)
    shift = gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(*(-centroid)))
    model.transform_pos_and_adp(shift)
    structure.setup_cell_images()
    return structure


def atom_positions(structure: gemmi.Structure) -> np.ndarray:
    """``(n_atoms, 3)`` coordinates of the first model in angstrom."""
    return np.array([cra.atom.pos.tolist() for cra in structure[0].all()], dtype=np.float64)


def summarise(structure: gemmi.Structure) -> pd.DataFrame:
    """Per-chain residues and atoms, and a total row with the extent and radii (angstrom)."""
    rows = [
        {"chain": chain.name, "residues": len(chain), "atoms": chain.count_atom_sites()}
        for chain in structure[0]
    ]
    xyz = atom_positions(structure)
    extent = xyz.max(axis=0) - xyz.min(axis=0)
    radius = np.linalg.norm(xyz - xyz.mean(axis=0), axis=1)
    total = {
        "chain": "all",
        "residues": sum(r["residues"] for r in rows),
        "atoms": len(xyz),
        "extent_x_a": extent[0],
        "extent_y_a": extent[1],
        "extent_z_a": extent[2],
        "max_radius_a": radius.max(),
        "radius_of_gyration_a": float(np.sqrt((radius**2).mean())),
    }
    return pd.DataFrame([*rows, total])


def run(params: dict[str, Any], path: str | Path) -> tuple[gemmi.Structure, pd.DataFrame]:
    """The centred model of the structure file ``path`` and its summary table."""
    raw = read_structure(path)
    log.info("%s: %d atoms in %d chains", path, raw[0].count_atom_sites(), len(raw[0]))
    structure = prepare_structure(
        raw,
        path,
        hydrogens=params.get("hydrogens", DEFAULTS["hydrogens"]),
        waters=params.get("waters", DEFAULTS["waters"]),
    )
    return structure, summarise(structure)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem check-structure", __doc__, outdir="output folder (model.pdb, summary.csv)"
    )
    parser.add_argument("structure", help="input PDB or mmCIF file")
    args, params = parse(parser, argv, DEFAULTS)
    setup_logging(args.log)
    structure, summary = run(params, args.structure)
    outdir = Path(args.outdir)
    write_pdb(outdir / "model.pdb", structure)
    write_table(outdir / "summary.csv", summary)
    write_run_config(outdir, {"structure": args.structure, **params})
    total = summary.iloc[-1]
    log.info(
        "kept %d atoms, %d residues; extent %.1f x %.1f x %.1f A",
        total.atoms,
        total.residues,
        total.extent_x_a,
        total.extent_y_a,
        total.extent_z_a,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
