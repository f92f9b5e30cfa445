"""Data acquisition: local cache -> mirror directories -> HTTPS, with sha256 verification.

``fetch(file_id)`` returns a verified local path. Mirror files are never copied: the cache
holds a symbolic link to the verified mirror file, downloads are written atomically.
"""

from __future__ import annotations

import logging
import os
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


def fetch(
    file_id: str | DataFile,
    *,
    mirrors: list[str | Path] | None = None,
    cache_dir: str | Path = "resources",
    allow_network: bool = True,
    timeout_s: float = 30.0,
    retries: int = 4,
    backoff_s: float = 1.0,
) -> Path:
    """Return a verified local path of ``file_id``, looking in the cache, mirrors, then online.

    A cache hit is re-verified. A mirror hit is verified and linked into the cache (not
    copied). A download goes to ``<cache>/<id>.part`` (resumed on the next call if
    interrupted), is verified, then renamed; a checksum mismatch deletes it and raises
    :class:`ChecksumError`. With no hit and no network, :class:`FetchError` names the file,
    the mirrors tried and the URL.
    """
    entry = file_id if isinstance(file_id, DataFile) else lookup(file_id)
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
    if entry.url is None:
        raise FetchError(
            f"{entry.id}: not in the cache ({target.parent.resolve()}) nor in any mirror "
            f"(tried: {tried}), and it has no download URL"
        )
    if not allow_network:
        raise FetchError(
            f"{entry.id}: not in the cache ({target.parent.resolve()}) nor in any mirror "
            f"(tried: {tried}), and the network is disabled; download it from {entry.url} "
            f"into {target} or add a mirror that holds {entry.relpath}"
        )
    part = target.with_name(target.name + ".part")
    try:
        download(entry.url, part, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)
    except Exception as exc:
        raise FetchError(
            f"{entry.id}: not in the cache nor in any mirror (tried: {tried}), "
            f"and the download from {entry.url} failed: {exc}"
        ) from exc
    if entry.sha256 is not None:
        actual = sha256sum(part)
        if actual != entry.sha256:
            part.unlink()
            raise ChecksumError(
                f"{entry.id}: downloaded file from {entry.url} has sha256 {actual}, "
                f"expected {entry.sha256}; the file was deleted"
            )
    os.replace(part, target)
    log.info("%s: downloaded from %s", entry.id, entry.url)
    return target


def _link(source: Path, target: Path) -> None:
    """Atomically point ``target`` at ``source`` (absolute symbolic link)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.link{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(source.resolve())
    os.replace(tmp, target)
