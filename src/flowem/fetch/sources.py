"""Recipes that make a registry file from public files when no single URL serves it.

A :class:`SliceStack` is a TIFF stack assembled from 2-D slice images (the ISBI 2012 volume
from its 30 PNG slices); an :class:`ArchiveMember` is one file of a zip archive (the NIQE
model in the LIVE release). ``build`` writes the file to a ``.part`` path; the caller checks
its sha256 and renames it, as for a plain download.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flowem.errors import ChecksumError, FetchError

#: ``get(url, dest)`` downloads ``url`` into ``dest`` (resuming it), with the caller's retries
Getter = Callable[[str, Path], Path]


@dataclass(frozen=True)
class Part:
    """One public file a recipe reads, with its sha256 where known."""

    url: str
    sha256: str | None = None


@dataclass(frozen=True)
class SliceStack:
    """Slices (PNG, decoded with Pillow) stacked along axis 0 in the listed order and written
    with ``tifffile.imwrite(path, stack, **tiff_options)``; ``array_sha256`` is the sha256 of
    the stacked pixels (C order), which tells a pixel difference from an encoding one."""

    slices: tuple[Part, ...]
    tiff_options: dict[str, Any] = field(default_factory=dict)
    array_sha256: str | None = None

    def describe(self) -> str:
        return f"{len(self.slices)} slices, {self.slices[0].url} to {self.slices[-1].url}"

    def urls(self) -> list[str]:
        return [part.url for part in self.slices]

    def build(self, file_id: str, part: Path, get: Getter, urls: list[str]) -> Path:
        """Download the slices from ``urls`` (kept in ``<id>.slices/`` until the stack is
        written, so an interrupted fetch resumes), check them, stack and write to ``part``."""
        import tifffile
        from PIL import Image

        folder = part.with_name(part.name.removesuffix(".part") + ".slices")
        folder.mkdir(parents=True, exist_ok=True)
        planes = []
        for index, (source, url) in enumerate(zip(self.slices, urls, strict=True)):
            path = folder / f"{index:04d}{Path(source.url).suffix}"
            if not path.exists():
                _get(get, url, path.with_name(path.name + ".part"), f"{file_id}: slice {index}")
                path.with_name(path.name + ".part").replace(path)
            actual = _sha256(path.read_bytes())
            if source.sha256 is not None and actual != source.sha256:
                path.unlink()
                raise ChecksumError(
                    f"{file_id}: slice {index} from {url} has sha256 {actual}, "
                    f"expected {source.sha256}; the slice was deleted"
                )
            with Image.open(path) as image:
                planes.append(_grey(np.asarray(image), file_id, url))
        shapes = {plane.shape for plane in planes}
        if len(shapes) != 1:
            raise FetchError(f"{file_id}: slices of different shapes {sorted(shapes)}")
        stack = np.ascontiguousarray(np.stack(planes))
        actual = _sha256(stack.tobytes())
        if self.array_sha256 is not None and actual != self.array_sha256:
            shutil.rmtree(folder)  # which slice is wrong is unknown: all are fetched again
            raise ChecksumError(
                f"{file_id}: the {len(planes)} slices from {urls[0]} on stack to pixels with "
                f"sha256 {actual}, expected {self.array_sha256} (other images, or another order)"
            )
        tifffile.imwrite(part, stack, **self.tiff_options)
        shutil.rmtree(folder)
        return part

    def encoding_hint(self) -> str:
        """Why a stack whose pixels matched can still differ as a file."""
        import tifffile

        if self.array_sha256 is None:
            return ""
        return (
            f" (the pixels match: the TIFF encoding differs; tifffile {tifffile.__version__} "
            f"wrote it with {self.tiff_options})"
        )


@dataclass(frozen=True)
class ArchiveMember:
    """The file ``member`` (its name, or its path's last parts) inside the zip at ``url``."""

    url: str
    member: str

    def describe(self) -> str:
        return f"{self.member} in {self.url}"

    def urls(self) -> list[str]:
        return [self.url]

    def encoding_hint(self) -> str:
        return ""

    def build(self, file_id: str, part: Path, get: Getter, urls: list[str]) -> Path:
        """Download the archive from ``urls[0]``, extract the member to ``part``, drop it."""
        archive = part.with_name(part.name.removesuffix(".part") + ".zip.part")
        _get(get, urls[0], archive, f"{file_id}: the archive")
        try:
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if f"/{n}".endswith(f"/{self.member}")]
                if not names:
                    raise FetchError(
                        f"{file_id}: the archive from {urls[0]} holds no {self.member} "
                        f"(members: {', '.join(zf.namelist()[:20])})"
                    )
                with zf.open(min(names, key=len)) as src, open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        except zipfile.BadZipFile as exc:
            raise FetchError(f"{file_id}: {urls[0]} is not a zip archive ({exc})") from exc
        finally:
            archive.unlink(missing_ok=True)
        return part


Source = SliceStack | ArchiveMember

GITHUB_RAW_URL = "https://raw.githubusercontent.com/{repo}/{ref}/{path}"


def github_file(repo: str, ref: str, path: str) -> str:
    """The raw URL of ``path`` in the GitHub repository ``repo`` at commit or tag ``ref``."""
    return GITHUB_RAW_URL.format(repo=repo, ref=ref, path=path)


@dataclass(frozen=True)
class DataFile:
    """One fetchable file: its id (a path relative to a mirror root), a single download URL or
    a ``source`` recipe built from public files, its sha256 (when known) and its licence.
    A ``restriction`` (e.g. non-commercial use only) makes fetching it an explicit choice."""

    id: str
    url: str | None
    sha256: str | None = None
    description: str = ""
    licence: str = ""
    source: Source | None = None
    restriction: str = ""

    @property
    def relpath(self) -> str:
        return self.id

    def urls(self) -> list[str]:
        """Every URL the file is made from: its own, else its recipe's."""
        if self.url is not None:
            return [self.url]
        return self.source.urls() if self.source is not None else []

    def describe_source(self) -> str:
        """Where the file is downloaded from, in words."""
        if self.url is None and self.source is not None:
            return self.source.describe()
        return str(self.url)


def _get(get: Getter, url: str, dest: Path, what: str) -> Path:
    """``get``, its failure named by what was being fetched and from where."""
    try:
        return get(url, dest)
    except Exception as exc:
        raise FetchError(f"{what} could not be downloaded from {url}: {exc}") from exc


def _grey(plane: np.ndarray, file_id: str, url: str) -> np.ndarray:
    """A 2-D grey image: grey+alpha or RGB(A) with equal channels keep their first channel."""
    if plane.ndim == 3:
        colour = plane[..., :3] if plane.shape[-1] >= 3 else plane[..., :1]
        if not np.all(colour == colour[..., :1]):
            raise FetchError(f"{file_id}: slice {url} is a colour image, not grey")
        plane = colour[..., 0]
    if plane.ndim != 2:
        raise FetchError(f"{file_id}: slice {url} has shape {plane.shape}, not a 2-D image")
    return plane


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
