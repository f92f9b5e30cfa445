"""Atomic models (PDB / mmCIF) through ``gemmi``."""

from __future__ import annotations

import math
from pathlib import Path

import gemmi

from flowem.errors import InputFileError


def read_structure(path: str | Path) -> gemmi.Structure:
    """Read a PDB or mmCIF file and check that its first model has atoms with finite coordinates.

    ``setup_entities`` is called so chains without TER records are still split into
    polymers. Unreadable, empty or NaN-coordinate files raise :class:`InputFileError`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        structure = gemmi.read_structure(str(path))
    except (RuntimeError, ValueError) as exc:
        raise InputFileError(path, f"not a readable PDB/mmCIF file ({exc})") from exc
    if len(structure) == 0 or structure[0].count_atom_sites() == 0:
        raise InputFileError(
            path, "structure holds no atoms (empty or malformed coordinate records)"
        )
    for cra in structure[0].all():
        pos = cra.atom.pos
        if not all(math.isfinite(v) for v in (pos.x, pos.y, pos.z)):
            raise InputFileError(path, f"atom {cra} has non-finite coordinates")
    structure.setup_entities()
    return structure


def write_pdb(path: str | Path, structure: gemmi.Structure) -> Path:
    """Write ``structure`` as PDB atomically."""
    from flowem.io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        structure.write_pdb(str(tmp))
    return path
