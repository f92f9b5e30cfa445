"""``flowem check-structure``: validate an atomic model, keep what the simulation uses, centre it.

Writes the centred model (heavy atoms of protein by default; hydrogens and waters on
request) and a per-chain summary table with the model's extent, so the first real slice of
the DAG checks the structure before any simulation reads it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gemmi
import numpy as np
import pandas as pd

from flowem.command import add_common_arguments, guarded, parse_params
from flowem.errors import InputFileError
from flowem.io import read_structure, write_pdb, write_table
from flowem.runtime import setup_logging, write_run_config


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


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowem check-structure", description=__doc__)
    parser.add_argument("structure", help="input PDB or mmCIF file")
    parser.add_argument("--model-out", required=True, help="centred model (.pdb)")
    parser.add_argument("--summary-out", required=True, help="summary table (.csv)")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    log = setup_logging(args.log)

    raw = read_structure(args.structure)
    log.info("%s: %d atoms in %d chains", args.structure, raw[0].count_atom_sites(), len(raw[0]))
    structure = prepare_structure(
        raw,
        args.structure,
        hydrogens=params.get("hydrogens", False),
        waters=params.get("waters", False),
    )
    summary = summarise(structure)
    write_pdb(args.model_out, structure)
    write_table(args.summary_out, summary)
    write_run_config(Path(args.summary_out).parent, {"structure": args.structure, **params})
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
