"""Data acquisition: local cache -> mirror directories -> HTTPS, with sha256 verification.

``fetch(file_id)`` returns a verified local path. Mirror files are never copied: the cache
holds a symbolic link to the verified mirror file, downloads are written atomically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from flowem.errors import ChecksumError, FetchError
from flowem.fetch.download import download, sha256sum
from flowem.fetch.registry import DataFile, empiar_entry, empiar_file, known_files, lookup, pdb_file

__all__ = [
    "DataFile",
    "default_mirrors",
    "empiar_entry",
    "empiar_file",
    "fetch",
    "known_files",
    "lookup",
    "pdb_file",
    "rewrite_url",
    "sha256sum",
]

log = logging.getLogger("flowem.fetch")

MIRRORS_ENV = "FLOWEM_MIRRORS"


def default_mirrors() -> list[Path]:
    """Mirror directories from ``$FLOWEM_MIRRORS`` (colon-separated), then ``../shared/data``."""
    env = [Path(p) for p in os.environ.get(MIRRORS_ENV, "").split(os.pathsep) if p]
    return [*env, Path("../shared/data")]


def _verified(path: Path, entry: DataFile) -> bool:
    """True if ``path`` matches the entry's sha256 (or none is known)."""
    if entry.sha256 is None:
        return True
    actual = sha256sum(path)
    if actual != entry.sha256:
        log.warning("%s: sha256 %s differs from the registry's %s", path, actual, entry.sha256)
        return False
    return True


def rewrite_url(url: str, rewrites: Mapping[str, str] | None) -> str:
    """``url`` with its longest matching prefix in ``rewrites`` replaced (a local server, a
    proxy or an institute's copy of the public files)."""
    for prefix in sorted(rewrites or {}, key=len, reverse=True):
        if url.startswith(prefix):
            return rewrites[prefix] + url[len(prefix) :]
    return url


def fetch(
    file_id: str | DataFile,
    *,
    mirrors: list[str | Path] | None = None,
    cache_dir: str | Path = "resources",
    allow_network: bool = True,
    timeout_s: float = 30.0,
    retries: int = 4,
    backoff_s: float = 1.0,
    url_rewrites: Mapping[str, str] | None = None,
    accept_restriction: bool = False,
) -> Path:
    """Return a verified local path of ``file_id``, looking in the cache, mirrors, then online.

    A cache hit is re-verified. A mirror hit is verified and linked into the cache (not
    copied). Online, a file is downloaded from its URL, or built from public files by its
    registry recipe (PNG slices stacked into a TIFF, one member of a zip archive), every URL
    passed through ``url_rewrites`` first. The result goes to ``<cache>/<id>.part``
    (a download is resumed on the next call if interrupted), is verified, then renamed; a
    checksum mismatch deletes it and raises :class:`ChecksumError` naming the file. With no hit
    and no network, :class:`FetchError` names the file, the mirrors tried and the URL. A file
    with a licence ``restriction`` is given only with ``accept_restriction``.
    """
    entry = file_id if isinstance(file_id, DataFile) else lookup(file_id)
    if entry.restriction and not accept_restriction:
        raise FetchError(
            f"{entry.id}: restricted licence ({entry.restriction}); fetch it only if your use "
            "complies, by asking for it explicitly (accept_restriction=True)"
        )
    mirrors = default_mirrors() if mirrors is None else [Path(m) for m in mirrors]
    target = Path(cache_dir) / entry.relpath

    if target.exists():
        if _verified(target, entry):
            return target
        log.warning("%s: cached copy fails verification; looking further", target)
        target.unlink()
    elif target.is_symlink():  # a dangling link to a mirror that moved
        target.unlink()

    for mirror in mirrors:
        candidate = mirror / entry.relpath
        if candidate.is_file():
            if _verified(candidate, entry):
                _link(candidate, target)
                log.info("%s: verified mirror copy %s", entry.id, candidate)
                return target
            log.warning("%s: mirror copy %s fails verification; skipped", entry.id, candidate)

    tried = ", ".join(str(m.resolve()) for m in mirrors) or "none"
    urls = [rewrite_url(url, url_rewrites) for url in entry.urls()]
    if not urls:
        raise FetchError(
            f"{entry.id}: not in the cache ({target.parent.resolve()}) nor in any mirror "
            f"(tried: {tried}), and it has no download URL"
        )
    where = urls[0] if entry.url is not None else entry.describe_source()
    if not allow_network:
        raise FetchError(
            f"{entry.id}: not in the cache ({target.parent.resolve()}) nor in any mirror "
            f"(tried: {tried}), and the network is disabled; download it from {where} "
            f"into {target} or add a mirror that holds {entry.relpath}"
        )
    part = target.with_name(target.name + ".part")

    def get(url: str, dest: Path) -> Path:
        return download(url, dest, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)

    try:
        if entry.url is not None:
            get(urls[0], part)
        else:
            entry.source.build(entry.id, part, get, urls)
    except FetchError:
        part.unlink(missing_ok=True)
        raise
    except Exception as exc:
        if entry.url is None:  # a half-built file (a download's .part is resumed instead)
            part.unlink(missing_ok=True)
        raise FetchError(
            f"{entry.id}: not in the cache nor in any mirror (tried: {tried}), "
            f"and the download from {where} failed: {exc}"
        ) from exc
    if entry.sha256 is not None:
        actual = sha256sum(part)
        if actual != entry.sha256:
            part.unlink()
            hint = entry.source.encoding_hint() if entry.url is None else ""
            raise ChecksumError(
                f"{entry.id}: the file from {where} has sha256 {actual}, "
                f"expected {entry.sha256}; the file was deleted{hint}"
            )
    os.replace(part, target)
    log.info("%s: downloaded from %s", entry.id, where)
    return target


def _link(source: Path, target: Path) -> None:
    """Atomically point ``target`` at ``source`` (absolute symbolic link)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.link{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(source.resolve())
    os.replace(tmp, target)
