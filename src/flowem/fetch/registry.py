"""The registry of known data files: id -> relative path, URL, sha256 (when known).

An id is the file's path relative to a mirror root (``pdb/3j9i.pdb``), so the same name
finds it in the cache (``resources/``), in every mirror directory and on the server.
"""

from __future__ import annotations

from dataclasses import dataclass

RCSB_URL = "https://files.rcsb.org/download/{pdb_id}.{fmt}"
EMPIAR_API_URL = "https://www.ebi.ac.uk/empiar/api/entry/EMPIAR-{entry}"
EMPIAR_FILES_URL = "https://ftp.ebi.ac.uk/empiar/world_availability/{entry}/data/{path}"


@dataclass(frozen=True)
class DataFile:
    """One fetchable file."""

    id: str
    url: str | None
    sha256: str | None = None
    description: str = ""
    licence: str = ""

    @property
    def relpath(self) -> str:
        return self.id


_KNOWN: dict[str, DataFile] = {
    f.id: f
    for f in (
        DataFile(
            "pdb/3j9i.pdb",
            RCSB_URL.format(pdb_id="3J9I", fmt="pdb"),
            "714dfd39ca75189ca1e4a495c5e48dc4a8532d8673cef56d469e13731d19b03a",
            "T20S proteasome, cryo-EM model 3.3 A (Li et al., Nat. Methods 2013; EMD-5623)",
            "PDB data: CC0",
        ),
        DataFile(
            "pdb/2cg9.pdb",
            RCSB_URL.format(pdb_id="2CG9", fmt="pdb"),
            "c08e195b48edf4ab1a6b506d668d78015cd3330ee59604ebe969e0cf3964a418",
            "Yeast Hsp90-Sba1 closed dimer, X-ray 3.1 A (Ali et al., Nature 2006)",
            "PDB data: CC0",
        ),
        DataFile(
            "em/isbi2012_train_volume.tif",
            None,  # the mirror's copy is rebuilt from PNG slices: not byte-identical to any URL
            "f0283074383ef898bb4cf0779de3d6012e02a7d77005ae8e389b09eecd8cb4c1",
            "ISBI 2012 EM training volume, 30x512x512, 4x4x50 nm (Cardona et al. 2010)",
            "ISBI 2012 challenge data: cite Cardona et al. 2010 and Arganda-Carreras et al. 2015",
        ),
        DataFile(
            "particles/empiar_10076_7.mrc",
            None,  # a 7-particle extract of EMPIAR-10076, distributed through the mirror only
            "6503b12593fdf1b28aef73351788fb83c44d935682a03429a51a1fb5d05b9e72",
            "7 experimental EMPIAR-10076 particle images (320x320, 1.31 A/px)",
            "EMPIAR data: CC0",
        ),
        DataFile(
            "particles/empiar_10076_7.star",
            None,
            "d6b80f02a15d65dfc6af2abef1159473ab16a0744efc09efb0aabce2a99cb626",
            "RELION STAR metadata of the 7 EMPIAR-10076 particles",
            "EMPIAR data: CC0",
        ),
        DataFile(
            "niqe/modelparameters.mat",
            None,  # part of the MATLAB NIQE release archive, not a single-file URL
            "fa2aa4d12dd9595c3fb6bf8b4e1a15c79d5d1469238d0901c88dead195be578d",
            "NIQE natural-image model (Mittal et al. 2012)",
            "LIVE, UT Austin NIQE release",
        ),
    )
}


def pdb_file(pdb_id: str, fmt: str = "pdb") -> DataFile:
    """The registry entry of an RCSB structure; sha256 known only for the mirrored ones."""
    if not (len(pdb_id) == 4 and pdb_id.isalnum()):
        raise ValueError(f"not a PDB id: {pdb_id!r}")
    file_id = f"pdb/{pdb_id.lower()}.{fmt}"
    return _KNOWN.get(file_id) or DataFile(file_id, RCSB_URL.format(pdb_id=pdb_id.upper(), fmt=fmt))


def empiar_entry(entry: int, api_url: str = EMPIAR_API_URL) -> DataFile:
    """The EMPIAR entry's metadata (JSON from the EMPIAR REST API, or a server like it)."""
    return DataFile(f"empiar/{entry}/entry.json", api_url.format(entry=entry))


def empiar_file(
    entry: int, path: str, sha256: str | None = None, files_url: str = EMPIAR_FILES_URL
) -> DataFile:
    """A file of an EMPIAR entry, ``path`` relative to the entry's ``data/`` folder."""
    path = path.lstrip("/")
    url = files_url.format(entry=entry, path=path)
    return DataFile(f"empiar/{entry}/data/{path}", url, sha256)


def lookup(file_id: str) -> DataFile:
    """The entry of ``file_id``: a known file, ``pdb/<id>.pdb|cif``, ``empiar/<N>/...``, or
    any other relative path (found in the cache or a mirror only)."""
    if file_id in _KNOWN:
        return _KNOWN[file_id]
    parts = file_id.split("/")
    if parts[0] == "pdb" and len(parts) == 2 and "." in parts[1]:
        stem, fmt = parts[1].split(".", 1)
        return pdb_file(stem, fmt)
    if parts[0] == "empiar" and len(parts) >= 3 and parts[1].isdigit():
        if parts[2:] == ["entry.json"]:
            return empiar_entry(int(parts[1]))
        if parts[2] == "data" and len(parts) > 3:
            return empiar_file(int(parts[1]), "/".join(parts[3:]))
    if file_id.startswith("/") or ".." in parts or not file_id:
        raise KeyError(f"not a data file id (a path relative to a mirror root): {file_id!r}")
    # any other relative path: a local file (e.g. your own STAR + MRC) served by the cache or
    # a mirror only, without a checksum or a download URL
    return DataFile(file_id, None)


def known_files() -> list[DataFile]:
    """Every file with a fixed registry entry."""
    return list(_KNOWN.values())
