"""Shared fixtures: repository paths and small generated data (tests never use real data
unless a test says so and skips when the mirror is absent)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "data"


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def mirror_dir() -> Path:
    if not (MIRROR / "README.md").is_file():
        pytest.skip("the shared data mirror is not present")
    return MIRROR


@contextmanager
def http_directory(root: Path) -> Iterator[str]:
    """``root`` served over HTTP on 127.0.0.1 by a thread (Range requests are not honoured);
    yields the base URL, ending in ``/``. The tests' stand-in for the public servers."""
    import http.server
    import threading
    from functools import partial

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=root))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def pdb_atom_line(serial, name, resname, chain, resseq, xyz, element, record="ATOM") -> str:
    """One fixed-column PDB ATOM/HETATM record."""
    x, y, z = xyz
    return (
        f"{record:<6}{serial:>5} {name:<4} {resname:>3} {chain}{resseq:>4}    "
        f"{x:8.3f}{y:8.3f}{z:8.3f}{1.0:6.2f}{20.0:6.2f}          {element:>2}"
    )


def toy_pdb_text(n_residues: int = 6, offset=(100.0, -50.0, 30.0), water=True, ligand=True) -> str:
    """A small two-chain protein (backbone + CB, with H on chain A) plus one water and one ion."""
    rng = np.random.default_rng(7)
    lines, serial = [], 1
    for chain, shift in (("A", 0.0), ("B", 12.0)):
        for i in range(1, n_residues + 1):
            base = np.array(offset) + np.array([shift, 3.8 * i, 1.5 * np.sin(i)])
            atoms = [("N", "N"), ("CA", "C"), ("C", "C"), ("O", "O"), ("CB", "C")]
            if chain == "A":
                atoms.append(("H", "H"))
            for name, el in atoms:
                xyz = base + rng.normal(scale=1.2, size=3)
                lines.append(pdb_atom_line(serial, name, "ALA", chain, i, xyz, el))
                serial += 1
        lines.append(f"TER   {serial:>5}      ALA {chain}{n_residues:>4}")
        serial += 1
    if water:
        lines.append(pdb_atom_line(serial, "O", "HOH", "W", 1, (90.0, 0.0, 0.0), "O", "HETATM"))
        serial += 1
    if ligand:
        lines.append(pdb_atom_line(serial, "ZN", "ZN", "Z", 1, (95.0, 5.0, 5.0), "ZN", "HETATM"))
    return "\n".join([*lines, "END", ""])


@pytest.fixture
def toy_pdb(tmp_path: Path) -> Path:
    path = tmp_path / "toy.pdb"
    path.write_text(toy_pdb_text())
    return path


@pytest.fixture
def one_torch_thread():
    """Small convolutions run far faster on one thread than on a contended pool."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
