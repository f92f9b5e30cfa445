"""Every default input from its public source, with the mirror list empty: a local HTTP server
stands in for GitHub, the LIVE site and RCSB (``url_rewrites`` points the registry's URLs at it)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from tests.conftest import REPO, http_directory

from flowem.config import load_config
from flowem.errors import ChecksumError, FetchError
from flowem.fetch import DataFile, fetch, known_files, lookup, sha256sum
from flowem.fetch.command import run as fetch_command
from flowem.fetch.registry import ISBI_TIFF, NIQE_RELEASE_URL
from flowem.fetch.sources import ArchiveMember, Part, SliceStack
from flowem.metrics import NiqeModel, read_niqe_model, write_niqe_model

GITHUB = "https://raw.githubusercontent.com/"


@pytest.fixture
def www(tmp_path):
    """``(root, base_url)``: files under ``root`` served at ``base_url`` on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()
    with http_directory(root) as base:
        yield root, base


def _put(root: Path, url: str, data: bytes, prefix: str = GITHUB) -> None:
    """Place ``data`` where the rewritten ``url`` points: ``root/<url without prefix>``."""
    path = root / url.removeprefix(prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _png(plane: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    image = Image.fromarray(plane)
    (image.convert(mode) if mode else image).save(buf, format="PNG")
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stack_entry(planes, tiff_options, file_sha=None, array_sha=None, slice_shas=None):
    urls = [f"{GITHUB}lab/repo/0123/slices/{i}.png" for i in range(len(planes))]
    shas = slice_shas or [None] * len(planes)
    source = SliceStack(tuple(map(Part, urls, shas)), tiff_options, array_sha)
    return DataFile("em/toy_stack.tif", None, file_sha, source=source)


def _written(stack: np.ndarray, tiff_options: dict) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, stack, **tiff_options)
    return buf.getvalue()


def test_png_slices_assemble_into_the_registered_tiff(www, tmp_path):
    root, base = www
    stack = np.random.default_rng(0).integers(0, 256, (3, 20, 24), dtype=np.uint8)
    expected = _written(stack, ISBI_TIFF)
    # slice 1 as RGB and slice 2 as grey+alpha: both decode to the same grey plane
    encoded = [_png(stack[0]), _png(stack[1], "RGB"), _png(stack[2], "LA")]
    entry = _stack_entry(stack, ISBI_TIFF, _sha(expected), _sha(stack.tobytes()))
    for url, data in zip(entry.urls(), encoded, strict=True):
        _put(root, url, data)
    path = fetch(entry, mirrors=[], cache_dir=tmp_path / "cache", url_rewrites={GITHUB: base})
    assert path.read_bytes() == expected
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and np.array_equal(tif.asarray(), stack)
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy_stack.tif"]  # no leftovers


def test_isbi_volume_from_its_png_slices_matches_the_registry(www, tmp_path, mirror_dir):
    """The registry's own recipe rebuilds the mirror's TIFF byte for byte from 30 PNG slices
    (here: the mirror volume's slices, encoded as PNG, served where the GitHub URLs point)."""
    root, base = www
    volume = tifffile.imread(mirror_dir / "em/isbi2012_train_volume.tif")
    entry = lookup("em/isbi2012_train_volume.tif")
    assert entry.url is None and len(entry.urls()) == 30
    for url, plane in zip(entry.urls(), volume, strict=True):
        _put(root, url, _png(plane))
    path = fetch(entry.id, mirrors=[], cache_dir=tmp_path, url_rewrites={GITHUB: base})
    assert sha256sum(path) == entry.sha256 == sha256sum(mirror_dir / entry.id)
    assert not path.is_symlink()  # downloaded and built, not linked


def test_slices_in_another_order_are_named_and_leave_no_file(www, tmp_path):
    root, base = www
    stack = np.random.default_rng(1).integers(0, 256, (3, 8, 8), dtype=np.uint8)
    entry = _stack_entry(stack, {}, None, _sha(stack.tobytes()))
    for url, plane in zip(entry.urls(), stack[::-1], strict=True):
        _put(root, url, _png(plane))
    with pytest.raises(ChecksumError, match=r"em/toy_stack.tif: the 3 slices .* stack to pixels"):
        fetch(entry, mirrors=[], cache_dir=tmp_path / "c", url_rewrites={GITHUB: base})
    assert not list((tmp_path / "c" / "em").iterdir())  # no file, no part, no slices


def test_a_corrupt_slice_is_named(www, tmp_path):
    root, base = www
    stack = np.zeros((2, 8, 8), np.uint8)
    good = _png(stack[0])
    entry = _stack_entry(stack, {}, slice_shas=[_sha(good), _sha(good)])
    _put(root, entry.urls()[0], good)
    _put(root, entry.urls()[1], good[:-1] + b"x")
    with pytest.raises(ChecksumError, match=r"slice 1 from http://127.0.0.1:\d+/lab/repo"):
        fetch(entry, mirrors=[], cache_dir=tmp_path, url_rewrites={GITHUB: base})


def test_same_pixels_other_encoding_says_so(www, tmp_path):
    root, base = www
    stack = np.arange(64, dtype=np.uint8).reshape(1, 8, 8)
    entry = _stack_entry(stack, ISBI_TIFF, "0" * 64, _sha(stack.tobytes()))
    _put(root, entry.urls()[0], _png(stack[0]))
    with pytest.raises(ChecksumError, match=r"em/toy_stack.tif: .*expected 0{64}.*pixels match"):
        fetch(entry, mirrors=[], cache_dir=tmp_path, url_rewrites={GITHUB: base})
    assert not (tmp_path / "em" / "toy_stack.tif").exists()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _toy_niqe(tmp_path: Path) -> tuple[NiqeModel, bytes, bytes]:
    """A toy NIQE model as the LIVE .mat and as BasicSR's .npz layout."""
    gen = np.random.default_rng(2)
    a = gen.normal(size=(36, 36))
    model = NiqeModel(gen.normal(size=36), a @ a.T)
    mat = write_niqe_model(tmp_path / "toy.mat", model).read_bytes()
    buf = io.BytesIO()
    np.savez(buf, mu_pris_param=model.mu[None], cov_pris_param=model.cov, gaussian_window=a[:7, :7])
    return model, mat, buf.getvalue()


def test_niqe_model_from_the_release_archive_and_from_the_npz(www, tmp_path):
    root, base = www
    model, mat, npz = _toy_niqe(tmp_path)
    archive = _zip({"niqe_release/readme.txt": b"NIQE", "niqe_release/modelparameters.mat": mat})
    (root / "niqe_release.zip").write_bytes(archive)
    (root / "niqe_pris_params.npz").write_bytes(npz)
    release = ArchiveMember(NIQE_RELEASE_URL, "modelparameters.mat")
    rewrites = {NIQE_RELEASE_URL: base + "niqe_release.zip"}
    entries = (
        DataFile("niqe/toy.mat", None, _sha(mat), source=release),
        DataFile("niqe/toy.npz", base + "niqe_pris_params.npz", _sha(npz)),
    )
    paths = [fetch(e, mirrors=[], cache_dir=tmp_path / "c", url_rewrites=rewrites) for e in entries]
    assert paths[0].read_bytes() == mat and paths[1].read_bytes() == npz
    assert not list((tmp_path / "c" / "niqe").glob("*.zip*"))  # the archive is not kept
    for path in paths:  # either layout gives the same model, bit for bit
        read = read_niqe_model(path)
        assert np.array_equal(read.mu, model.mu) and np.array_equal(read.cov, model.cov)


def test_niqe_archive_without_the_member_is_named(www, tmp_path):
    root, base = www
    (root / "r.zip").write_bytes(_zip({"readme.txt": b"x"}))
    entry = DataFile("niqe/toy.mat", None, None, source=ArchiveMember(base + "r.zip", "m.mat"))
    with pytest.raises(FetchError, match=r"niqe/toy.mat: the archive from .*r.zip holds no m.mat"):
        fetch(entry, mirrors=[], cache_dir=tmp_path / "c")
    assert not [p for p in (tmp_path / "c").rglob("*") if p.is_file()]


def test_a_file_that_is_not_a_niqe_model_is_named(tmp_path):
    bad = tmp_path / "model.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(Exception, match=r"model.npz: not a NIQE model file"):
        read_niqe_model(bad)
    with pytest.raises(Exception, match=r"missing.mat: no such NIQE model file"):
        read_niqe_model(tmp_path / "missing.mat")


def test_real_niqe_and_empiar_sample_from_their_public_urls(www, tmp_path, mirror_dir):
    """The registry's NIQE .mat (in a release-like zip) and the EMPIAR-10076 sample (at its
    cryoDRGN GitHub path) verify against the registry when downloaded, not mirrored."""
    root, base = www
    mat = (mirror_dir / "niqe/modelparameters.mat").read_bytes()
    (root / "niqe_release.zip").write_bytes(_zip({"niqe_release/modelparameters.mat": mat}))
    for file_id in ("particles/empiar_10076_7.mrc", "particles/empiar_10076_7.star"):
        _put(root, lookup(file_id).url, (mirror_dir / file_id).read_bytes())
    rewrites = {GITHUB: base, NIQE_RELEASE_URL: base + "niqe_release.zip"}
    settings = {
        "mirrors": [],
        "cache_dir": tmp_path / "cache",
        "allow_network": True,
        "timeout_s": 5.0,
        "retries": 0,
        "url_rewrites": rewrites,
        "urls": {},
    }
    ids = [
        "niqe/modelparameters.mat",
        "particles/empiar_10076_7.mrc",
        "particles/empiar_10076_7.star",
    ]
    for file_id, path in zip(ids, fetch_command(settings, ids), strict=True):
        assert sha256sum(path) == lookup(file_id).sha256 and not path.is_symlink()


def test_command_urls_give_a_local_file_a_url_and_keep_registered_checksums(www, tmp_path):
    root, base = www
    (root / "mine.mrc").write_bytes(b"my particles")
    (root / "wrong.pdb").write_bytes(b"not the T20S model")
    settings = {
        "mirrors": [],
        "cache_dir": tmp_path,
        "allow_network": True,
        "timeout_s": 5.0,
        "retries": 0,
        "url_rewrites": {},
        "urls": {"lab/mine.mrc": base + "mine.mrc", "pdb/3j9i.pdb": base + "wrong.pdb"},
    }
    [path] = fetch_command(settings, ["lab/mine.mrc"])
    assert path.read_bytes() == b"my particles"
    with pytest.raises(ChecksumError, match=r"pdb/3j9i.pdb: the file from .*wrong.pdb"):
        fetch_command(settings, ["pdb/3j9i.pdb"])  # another URL, the registry's sha256


def test_every_default_input_has_a_public_source_and_a_checksum():
    config = load_config(REPO / "config/config.yaml")
    defaults = [
        f"pdb/{config['structure']['pdb_id'].lower()}.pdb",
        config["sip"]["protein"]["structure"],
        config["em_patches"]["volume"],
        config["real_particles"]["stack"],
        config["real_particles"]["star"],
        config["data"]["niqe_model"],
        "niqe/niqe_pris_params.npz",
    ]
    for file_id in defaults:
        entry = lookup(file_id)
        assert entry.urls() and all(u.startswith(("https://", "http://")) for u in entry.urls())
        assert entry.sha256 is not None and len(entry.sha256) == 64, file_id


def test_em_data_sets_are_registered_with_pinned_sources_and_licences():
    em = [f for f in known_files() if f.id.count("/") == 2 and f.id.startswith("em/")]
    folders = {f.id.split("/")[1] for f in em}
    assert len(folders) == 6 and len(em) == 24
    for entry in em:
        assert entry.sha256 and entry.licence, entry.id
        for url in entry.urls():  # GitHub raw files at a 40-hex commit
            owner_repo_commit = url.removeprefix(GITHUB).split("/")[:3]
            assert url.startswith(GITHUB) and len(owner_repo_commit[2]) == 40, url
    restricted = [f.id for f in em if f.restriction]
    assert restricted == ["em/cdeep3m_sbem_neuropil/cdeep3m_mito_testsample_8slices_1024.tif"]


def test_a_restricted_data_set_needs_an_explicit_choice(tmp_path, mirror_dir):
    file_id = "em/cdeep3m_sbem_neuropil/cdeep3m_mito_testsample_8slices_1024.tif"
    with pytest.raises(FetchError, match=r"cdeep3m.*restricted licence.*non-profit"):
        fetch(file_id, mirrors=[mirror_dir], cache_dir=tmp_path)
    assert not (tmp_path / file_id).exists()
    path = fetch(file_id, mirrors=[mirror_dir], cache_dir=tmp_path, accept_restriction=True)
    assert sha256sum(path) == lookup(file_id).sha256


def test_mirror_copies_of_the_em_data_sets_match_the_registry(mirror_dir, tmp_path):
    for entry in known_files():
        if entry.id.startswith("em/") and entry.id.count("/") == 2:
            path = fetch(
                entry, mirrors=[mirror_dir], cache_dir=tmp_path, allow_network=False,
                accept_restriction=True,
            )  # fmt: skip
            assert path.is_symlink(), entry.id  # verified by fetch against the registry


def test_a_missing_slice_is_named_with_its_url(www, tmp_path):
    root, base = www
    stack = np.zeros((2, 8, 8), np.uint8)
    entry = _stack_entry(stack, {})
    _put(root, entry.urls()[0], _png(stack[0]))  # slice 1 is not on the server
    with pytest.raises(FetchError, match=r"em/toy_stack.tif: slice 1 .* from http.*/1.png: .*404"):
        fetch(entry, mirrors=[], cache_dir=tmp_path / "c", url_rewrites={GITHUB: base})
    assert not (tmp_path / "c" / "em" / "toy_stack.tif").exists()
