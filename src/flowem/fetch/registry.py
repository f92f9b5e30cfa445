"""The registry of known data files: id -> relative path, public source, sha256 (when known).

An id is the file's path relative to a mirror root (``pdb/3j9i.pdb``), so the same name
finds it in the cache (``resources/``), in every mirror directory and on the server. Every
default input has a public source: a URL, or a recipe (:mod:`flowem.fetch.sources`) that
builds the mirror's file byte for byte from public files.
"""

from __future__ import annotations

from flowem.fetch.em_sets import EM_SETS
from flowem.fetch.sources import ArchiveMember, DataFile, Part, SliceStack, github_file

__all__ = ["DataFile", "empiar_entry", "empiar_file", "known_files", "lookup", "pdb_file"]

RCSB_URL = "https://files.rcsb.org/download/{pdb_id}.{fmt}"
EMPIAR_API_URL = "https://www.ebi.ac.uk/empiar/api/entry/EMPIAR-{entry}"
EMPIAR_FILES_URL = "https://ftp.ebi.ac.uk/empiar/world_availability/{entry}/data/{path}"

#: the 30 ISBI 2012 training slices as PNG files (zhixuhao/unet, data/membrane/train/image)
ISBI_SLICES = tuple(
    Part(
        github_file(
            "zhixuhao/unet",
            "909ae9b5fefd8a55900e24a771b073b1d4ef70ff",
            f"data/membrane/train/image/{index}.png",
        )
    )
    for index in range(30)
)
#: how the mirror's ImageJ TIFF was written (reproduced byte for byte with tifffile 2026.3.3)
ISBI_TIFF = {
    "imagej": True,
    "resolution": (250.0, 250.0),  # pixels per micron: 4 nm
    "metadata": {"axes": "ZYX", "spacing": 0.05, "unit": "micron"},
}
#: cryoDRGN's test data holds the 7-particle EMPIAR-10076 extract (its STAR is byte-identical)
CRYODRGN_DATA = ("ml-struct-bio/cryodrgn", "34d5c3989fb83b770c99f7117f4b25c581ded052")
NIQE_RELEASE_URL = "http://live.ece.utexas.edu/research/quality/niqe_release.zip"
NIQE_CITATION = "Mittal, Soundararajan and Bovik, IEEE SPL 20:209 (2013)"

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
            None,  # assembled from the 30 public PNG slices into the mirror's TIFF, byte for byte
            "f0283074383ef898bb4cf0779de3d6012e02a7d77005ae8e389b09eecd8cb4c1",
            "ISBI 2012 EM training volume, 30x512x512, 4x4x50 nm (Cardona et al. 2010)",
            "ISBI 2012 challenge data: cite Cardona et al. 2010 and Arganda-Carreras et al. 2015",
            source=SliceStack(
                ISBI_SLICES,
                ISBI_TIFF,
                "200da3d452d726e6c9ca1ce04b869d4edb727320d23b516d01cce707dc8c4760",
            ),
        ),
        DataFile(
            "particles/empiar_10076_7.mrc",
            github_file(*CRYODRGN_DATA, "tests/data/empiar_10076_7.mrc"),
            "6503b12593fdf1b28aef73351788fb83c44d935682a03429a51a1fb5d05b9e72",
            "7 experimental EMPIAR-10076 particle images (320x320, 1.31 A/px)",
            "EMPIAR data: CC0 (extract shipped with cryoDRGN's tests)",
        ),
        DataFile(
            "particles/empiar_10076_7.star",
            github_file(*CRYODRGN_DATA, "tests/data/empiar_10076_7.star"),
            "d6b80f02a15d65dfc6af2abef1159473ab16a0744efc09efb0aabce2a99cb626",
            "RELION STAR metadata of the 7 EMPIAR-10076 particles",
            "EMPIAR data: CC0 (extract shipped with cryoDRGN's tests)",
        ),
        DataFile(
            "niqe/modelparameters.mat",
            None,  # one member of the MATLAB release archive
            "fa2aa4d12dd9595c3fb6bf8b4e1a15c79d5d1469238d0901c88dead195be578d",
            f"NIQE natural-image model, MATLAB release ({NIQE_CITATION})",
            "LIVE, UT Austin NIQE release: free use with its copyright notice and the citation",
            source=ArchiveMember(NIQE_RELEASE_URL, "modelparameters.mat"),
        ),
        DataFile(
            "niqe/niqe_pris_params.npz",
            github_file("XPixelGroup/BasicSR", "v1.4.2", "basicsr/metrics/niqe_pris_params.npz"),
            "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296",
            f"NIQE natural-image model as BasicSR ships it: the same mu and cov ({NIQE_CITATION})",
            "BasicSR: Apache-2.0",
        ),
        *EM_SETS,
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
    # a mirror, without a checksum; `flowem fetch` can give it a URL (config data.urls)
    return DataFile(file_id, None)


def known_files() -> list[DataFile]:
    """Every file with a fixed registry entry."""
    return list(_KNOWN.values())
