"""Fetch: cache -> mirror -> HTTPS, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
from tests.conftest import http_directory

from flowem.errors import ChecksumError, FetchError
from flowem.fetch import DataFile, fetch, lookup, pdb_file, sha256sum

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, every byte value
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; ``server.drop_first`` makes the first reply break
    off half-way (headers promise the whole body)."""

    def do_GET(self):
        server = self.server
        server.requests.append({"path": self.path, "range": self.headers.get("Range")})
        if self.path != "/file.bin":
            self.send_error(404)
            return
        start = 0
        if (rng := self.headers.get("Range")) and server.ranges:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.drop_first and len(server.requests) == 1:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # drop the connection mid-transfer
            return
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests, httpd.drop_first, httpd.ranges = [], False, True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _entry(server, sha256=SHA, file_id="test/file.bin") -> DataFile:
    host, port = server.server_address
    return DataFile(file_id, f"http://{host}:{port}/file.bin", sha256)


def test_download_verifies_and_writes(server, tmp_path):
    path = fetch(_entry(server), mirrors=[], cache_dir=tmp_path / "cache", backoff_s=0)
    assert path == tmp_path / "cache" / "test" / "file.bin"
    assert path.read_bytes() == PAYLOAD
    assert not list(path.parent.glob("*.part"))


def test_retry_after_dropped_connection_resumes(server, tmp_path):
    server.drop_first = True
    path = fetch(_entry(server), mirrors=[], cache_dir=tmp_path, retries=2, backoff_s=0)
    assert sha256sum(path) == SHA
    assert len(server.requests) == 2
    assert server.requests[0]["range"] is None
    # the second request asks only for the missing half
    assert server.requests[1]["range"] == f"bytes={len(PAYLOAD) // 2}-"


def test_resume_of_partial_file(server, tmp_path):
    part = tmp_path / "test" / "file.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:1000])
    path = fetch(_entry(server), mirrors=[], cache_dir=tmp_path, backoff_s=0)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == [{"path": "/file.bin", "range": "bytes=1000-"}]


def test_server_without_range_support_restarts(server, tmp_path):
    server.ranges = False
    part = tmp_path / "test" / "file.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes")
    path = fetch(_entry(server), mirrors=[], cache_dir=tmp_path, backoff_s=0)
    assert path.read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    with pytest.raises(ChecksumError, match=r"^test/file.bin: the file from http.*expected 0{64}"):
        fetch(_entry(server, sha256="0" * 64), mirrors=[], cache_dir=tmp_path, backoff_s=0)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_http_404_is_a_clear_error(server, tmp_path):
    host, port = server.server_address
    entry = DataFile("test/missing.bin", f"http://{host}:{port}/missing.bin")
    with pytest.raises(FetchError, match=r"test/missing.bin.*missing.bin.*404"):
        fetch(entry, mirrors=[], cache_dir=tmp_path, backoff_s=0)
    assert len(server.requests) == 1  # client errors are not retried


def test_mirror_hit_without_network(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "test").mkdir(parents=True)
    (mirror / "test" / "file.bin").write_bytes(PAYLOAD)
    entry = DataFile("test/file.bin", "http://127.0.0.1:9/unreachable", SHA)
    path = fetch(
        entry,
        mirrors=[tmp_path / "empty", mirror],
        cache_dir=tmp_path / "cache",
        allow_network=False,
    )
    assert path.read_bytes() == PAYLOAD
    assert path.is_symlink() and path.resolve() == (mirror / "test" / "file.bin").resolve()


def test_corrupt_mirror_copy_is_skipped_for_the_next(tmp_path):
    bad, good = tmp_path / "bad", tmp_path / "good"
    for root, data in ((bad, PAYLOAD[:-1] + b"x"), (good, PAYLOAD)):
        (root / "test").mkdir(parents=True)
        (root / "test" / "file.bin").write_bytes(data)
    entry = DataFile("test/file.bin", None, SHA)
    path = fetch(entry, mirrors=[bad, good], cache_dir=tmp_path / "cache")
    assert path.resolve() == (good / "test" / "file.bin").resolve()


def test_corrupted_cache_is_replaced(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "test").mkdir(parents=True)
    (mirror / "test" / "file.bin").write_bytes(PAYLOAD)
    cached = tmp_path / "cache" / "test" / "file.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    path = fetch(
        DataFile("test/file.bin", None, SHA), mirrors=[mirror], cache_dir=tmp_path / "cache"
    )
    assert sha256sum(path) == SHA


def test_offline_miss_names_file_mirrors_and_url(tmp_path):
    entry = pdb_file("1ABC")
    with pytest.raises(FetchError) as info:
        fetch(
            entry,
            mirrors=[tmp_path / "m1", tmp_path / "m2"],
            cache_dir=tmp_path / "c",
            allow_network=False,
        )
    message = str(info.value)
    assert "pdb/1abc.pdb" in message
    assert (
        str((tmp_path / "m1").resolve()) in message and str((tmp_path / "m2").resolve()) in message
    )
    assert "https://files.rcsb.org/download/1ABC.pdb" in message


def test_registry_urls():
    assert lookup("pdb/3j9i.pdb").url == "https://files.rcsb.org/download/3J9I.pdb"
    assert lookup("pdb/3j9i.pdb").sha256.startswith("714dfd39")
    assert lookup("pdb/1abc.cif").url == "https://files.rcsb.org/download/1ABC.cif"
    assert lookup("empiar/10025/entry.json").url == (
        "https://www.ebi.ac.uk/empiar/api/entry/EMPIAR-10025"
    )
    assert lookup("empiar/10025/data/a/b.mrc").url == (
        "https://ftp.ebi.ac.uk/empiar/world_availability/10025/data/a/b.mrc"
    )
    local = lookup("my_lab/particles.star")  # local data: mirror or cache only
    assert local.url is None and local.sha256 is None
    with pytest.raises(KeyError, match="not a data file id"):
        lookup("../outside.txt")


def test_real_mirror_files_verify(mirror_dir, tmp_path):
    """Every registered file that the shared mirror holds matches its registry sha256."""
    for file_id in ("pdb/3j9i.pdb", "particles/empiar_10076_7.star", "niqe/modelparameters.mat"):
        path = fetch(file_id, mirrors=[mirror_dir], cache_dir=tmp_path, allow_network=False)
        assert sha256sum(path) == lookup(file_id).sha256
        assert Path(path).is_symlink()  # linked, never copied


def test_empiar_entry_and_file_from_a_local_server(tmp_path):
    """The EMPIAR code path end to end against a local copy of the EMPIAR layout."""
    import json

    from flowem.fetch import empiar_entry, empiar_file

    root = tmp_path / "www"
    (root / "api").mkdir(parents=True)
    (root / "api" / "EMPIAR-10025").write_text(json.dumps({"EMPIAR-10025": {"title": "T20S"}}))
    (root / "files" / "10025" / "data" / "stacks").mkdir(parents=True)
    (root / "files" / "10025" / "data" / "stacks" / "p.mrcs").write_bytes(PAYLOAD)

    with http_directory(root) as base:
        base = base.rstrip("/")
        meta = fetch(
            empiar_entry(10025, api_url=base + "/api/EMPIAR-{entry}"),
            mirrors=[],
            cache_dir=tmp_path / "cache",
        )
        stack = fetch(
            empiar_file(10025, "stacks/p.mrcs", SHA, files_url=base + "/files/{entry}/data/{path}"),
            mirrors=[],
            cache_dir=tmp_path / "cache",
        )
    assert json.loads(meta.read_text())["EMPIAR-10025"]["title"] == "T20S"
    assert meta == tmp_path / "cache" / "empiar" / "10025" / "entry.json"
    assert stack == tmp_path / "cache" / "empiar" / "10025" / "data" / "stacks" / "p.mrcs"
    assert sha256sum(stack) == SHA
