"""Run-time plumbing shared by every command: device, seeds, logging and provenance."""

from __future__ import annotations

import logging
import os
import platform
import random
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from flowem.io.tables import write_json

PROVENANCE_PACKAGES = (
    "flowem",
    "numpy",
    "scipy",
    "torch",
    "diffusers",
    "gemmi",
    "mrcfile",
    "starfile",
    "tifffile",
    "pandas",
    "scikit-image",
    "snakemake",
    "prody",
)


def pick_device(prefer: str = "auto"):
    """Return the torch device to use: ``auto`` takes CUDA when present, else the CPU."""
    import torch

    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if prefer.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{prefer}' requested but CUDA is not available")
    return torch.device(prefer)


def rng(seed: int, *keys: int) -> np.random.Generator:
    """A numpy generator for ``(seed, *keys)``: independent streams (seed, particle, sample)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, keys)]))


def torch_generator(seed: int, *keys: int, device: str = "cpu"):
    """A torch generator seeded from ``(seed, *keys)`` through numpy's SeedSequence."""
    import torch

    state = np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, dtype=np.uint64)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(state[0]) & 0x7FFF_FFFF_FFFF_FFFF)
    return gen


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (for code that uses them)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds legacy global-state callers
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)


def setup_logging(log_path: str | Path | None = None, name: str = "flowem") -> logging.Logger:
    """Log INFO and above to stderr and, when given, to ``log_path`` (the rule's ``log:``)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    logger.addHandler(stream)
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, mode="a")
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.propagate = False
    return logger


def package_versions(names: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (absent packages are skipped)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current git commit of the working tree (with ``-dirty``), or None outside git."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance() -> dict[str, Any]:
    """Where and with what a result was made."""
    return {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "cpu_count": os.cpu_count(),
    }


def write_run_config(outdir: str | Path, config: dict[str, Any], name: str = "config.json") -> Path:
    """Write the resolved ``config`` that made ``outdir``'s outputs, with provenance."""
    outdir = Path(outdir)
    return write_json(outdir / name, {"config": config, "provenance": provenance()})
