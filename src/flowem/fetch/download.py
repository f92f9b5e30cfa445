"""HTTP(S) download with timeout, retries with exponential back-off and resume of partial files."""

from __future__ import annotations

import hashlib
import http.client
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger("flowem.fetch")

CHUNK = 1 << 20


def sha256sum(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    part: Path,
    *,
    timeout_s: float = 30.0,
    retries: int = 4,
    backoff_s: float = 1.0,
) -> Path:
    """Download ``url`` into ``part``, resuming from whatever ``part`` already holds.

    Each try asks for the missing byte range (HTTP ``Range``); a server that ignores it
    (status 200) restarts the file. Connection errors, time-outs and 5xx answers are retried
    ``retries`` times with back-off ``backoff_s * 2**k``; 4xx answers fail at once.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff_s * 2 ** (attempt - 1)
            log.warning(
                "retry %d/%d of %s in %.1f s (%s)", attempt, retries, url, delay, last_error
            )
            time.sleep(delay)
        try:
            if _download_once(url, part, timeout_s):
                return part
            last_error = ConnectionError("connection closed before the end of the file")
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # range beyond the end: the partial file is stale
                part.unlink(missing_ok=True)
                last_error = exc
                continue
            if 400 <= exc.code < 500:
                raise
            last_error = exc
        except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as exc:
            last_error = exc
    raise ConnectionError(f"download of {url} failed after {retries + 1} tries: {last_error}")


def _download_once(url: str, part: Path, timeout_s: float) -> bool:
    """One request; returns True when the whole body has arrived."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "flowem-fetch"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        resumed = response.status == 206
        mode = "ab" if resumed else "wb"
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        received = 0
        start = have if resumed else 0
        total = start + expected if expected is not None else None
        with (
            open(part, mode) as fh,
            tqdm(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                desc=part.name[:-5],
                disable=None,
                leave=False,
            ) as bar,
        ):
            try:
                while chunk := response.read(CHUNK):
                    fh.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (OSError, TimeoutError, http.client.HTTPException) as exc:
                log.warning("connection to %s dropped after %d bytes (%s)", url, received, exc)
                return False
    return expected is None or received >= expected
