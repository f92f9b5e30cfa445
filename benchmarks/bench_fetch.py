"""Data stage: cost of fetch's verification and download against plain references, same run.

- ``mirror_hit_ratio``: fetch() of a mirrored 64 MiB file (sha256 verification + link) over
  hashing it with hashlib alone; ~1 means verification is the only cost.
- ``download_ratio``: fetch() from a local HTTP server (chunked write, resume bookkeeping,
  verification, rename) over a plain urllib read of the same URL into memory plus hashing.
- ``check_structure_seconds``: preparing and summarising 3J9I (46,228 atoms), when mirrored.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import sys
import tempfile
import threading
import urllib.request
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, parse_out, report
from flowem.fetch import DataFile, fetch

SIZE = 64 << 20


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    out = parse_out("results/bench/fetch.json")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        payload = os.urandom(SIZE)
        sha = hashlib.sha256(payload).hexdigest()
        mirror = tmp / "mirror"
        (mirror / "bench").mkdir(parents=True)
        (mirror / "bench" / "blob.bin").write_bytes(payload)
        entry = DataFile("bench/blob.bin", None, sha)

        def hash_only():
            hashlib.sha256((mirror / "bench" / "blob.bin").read_bytes()).hexdigest()

        def mirror_hit():
            cache = tmp / "cache"
            (cache / "bench" / "blob.bin").unlink(missing_ok=True)
            fetch(entry, mirrors=[mirror], cache_dir=cache)

        handler = partial(_QuietHandler, directory=str(mirror))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/bench/blob.bin"
        remote = DataFile("bench/blob.bin", url, sha)

        def plain_download():
            with urllib.request.urlopen(url) as response:
                hashlib.sha256(response.read()).hexdigest()

        def fetch_download():
            cache = tmp / "dl"
            (cache / "bench" / "blob.bin").unlink(missing_ok=True)
            fetch(remote, mirrors=[], cache_dir=cache)

        t_hash, t_hit = best_of(hash_only), best_of(mirror_hit)
        t_plain, t_fetch = best_of(plain_download), best_of(fetch_download)
        httpd.shutdown()

    results = {
        "file_mb": SIZE >> 20,
        "hash_seconds": round(t_hash, 4),
        "mirror_hit_seconds": round(t_hit, 4),
        "mirror_hit_ratio": round(t_hit / t_hash, 3),
        "plain_download_seconds": round(t_plain, 4),
        "fetch_download_seconds": round(t_fetch, 4),
        "download_ratio": round(t_fetch / t_plain, 3),
        "download_mb_per_s": round((SIZE >> 20) / t_fetch, 1),
    }
    t3j9i = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdb" / "3j9i.pdb"
    if t3j9i.is_file():
        from flowem.data.structure import prepare_structure, summarise
        from flowem.io import read_structure

        results["check_structure_seconds"] = round(
            best_of(lambda: summarise(prepare_structure(read_structure(t3j9i), t3j9i)), 2), 3
        )
    report(out, results)


if __name__ == "__main__":
    main()
