"""File formats of the pipeline: every reader validates and names the file in its errors,
every writer is atomic (temporary name, then rename)."""

from flowem.io.arrays import check_finite, check_ndim
from flowem.io.atomic import atomic_path
from flowem.io.mrc import read_mrc, write_mrc
from flowem.io.star import read_star, require_columns, star_particles
from flowem.io.structure import read_structure, write_pdb
from flowem.io.tables import read_json, read_table, write_json, write_table
from flowem.io.tiff import read_tiff, write_tiff

__all__ = [
    "atomic_path",
    "check_finite",
    "check_ndim",
    "read_json",
    "read_mrc",
    "read_star",
    "read_structure",
    "read_table",
    "read_tiff",
    "require_columns",
    "star_particles",
    "write_json",
    "write_mrc",
    "write_pdb",
    "write_table",
    "write_tiff",
]
