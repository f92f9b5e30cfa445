"""Command ``em-patches``: training and validation patches of the ISBI 2012 EM volume.

Reads ``em/isbi2012_train_volume.tif`` (30 x 512 x 512, uint8, 50 x 4 x 4 nm) through the fetch
module; slices ``train_slices`` give training patches, ``val_slices`` validation patches (by
default slices 22-23, the restoration's tuning slices; the restoration test slices 24-29 are
in neither set). Patches are ``patch`` px squares at random positions, each slice normalised
as ``normalise`` says (:mod:`flowem.restore.normalise`: ``fixed``, the default, scales to [-1, 1]
by ``x / 127.5 - 1``; ``robust`` maps each slice's median and robust spread to ISBI's; a
``polarity`` of ``bright`` or ``auto`` inverts bright-membrane slices), written as float32 MRC
stacks with the pixel size in angstrom (4 nm = 40 A), ready for ``train-prior``. Each slice's
normalisation statistics go into ``em_patches_config.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flowem.command import command_parser, guarded, parse
from flowem.errors import ConfigError, InputFileError
from flowem.io import read_tiff, write_mrc
from flowem.restore.normalise import NORMALISE, POLARITY, Normalisation, fit_normalisation
from flowem.runtime import rng, setup_logging, write_run_config
from flowem.settings import check_at_least, check_choice, from_mapping

EM_VOLUME = "em/isbi2012_train_volume.tif"
PATCH_STREAM = 701


@dataclass(frozen=True)
class PatchSettings:
    """Which slices, how many patches, how large (``em_patches`` config section)."""

    patch: int = 64
    n_train: int = 4096
    n_val: int = 256
    train_slices: list[int] = field(default_factory=lambda: list(range(22)))
    val_slices: list[int] = field(default_factory=lambda: [22, 23])
    normalise: str = "fixed"  # per slice: "fixed" x / 127.5 - 1, "robust" median / MAD to ISBI's
    polarity: str = "dark"  # membranes: "dark" as they are, "bright" inverted, "auto" found

    def __post_init__(self) -> None:
        check_at_least(self, "em_patches", 8, "patch")
        check_at_least(self, "em_patches", 1, "n_train", "n_val")
        check_choice(self, "em_patches", "normalise", NORMALISE)
        check_choice(self, "em_patches", "polarity", POLARITY)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PatchSettings:
        return from_mapping(cls, params, "em_patches")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 grey levels to float32 in [-1, 1]."""
    return (np.asarray(images, dtype=np.float32) / 127.5 - 1.0).astype(np.float32)


def read_em_volume(path: str | Path | None = None) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The EM volume (D, H, W) in [-1, 1] and its voxel size (z, y, x) in nm."""
    if path is None:
        from flowem.fetch import fetch

        path = fetch(EM_VOLUME)
    volume, voxel = read_tiff(path)
    if volume.ndim != 3:
        raise InputFileError(path, f"expected a (D, H, W) volume, got shape {volume.shape}")
    return to_unit_range(volume), voxel or (50.0, 4.0, 4.0)


def normalised_volume(
    path: str | Path, method: str, polarity: str
) -> tuple[np.ndarray, tuple[float, float, float], list[Normalisation]]:
    """The EM volume (D, H, W), each slice normalised by ``method`` with ``polarity``, its
    voxel size (z, y, x) in nm and each slice's normalisation (``fixed`` of uint8 is exactly
    :func:`to_unit_range`)."""
    raw, voxel = read_tiff(path)
    if raw.ndim != 3:
        raise InputFileError(path, f"expected a (D, H, W) volume, got shape {raw.shape}")
    fits = [
        fit_normalisation(s, method, polarity, source=f"{path} slice {z}")
        for z, s in enumerate(raw)
    ]
    volume = np.stack([fit.apply(s) for fit, s in zip(fits, raw, strict=True)])
    return volume, voxel or (50.0, 4.0, 4.0), fits


def random_patches(
    volume: np.ndarray, slices: list[int], count: int, patch: int, seed: int, stream: int
) -> np.ndarray:
    """``count`` patches of ``patch`` px from ``slices``, uniform over slices and positions."""
    return section_patches(volume, slices, count, patch, rng(seed, PATCH_STREAM, stream))


def section_patches(
    sections: Sequence[np.ndarray], indices: list[int], count: int, patch: int, gen
) -> np.ndarray:
    """``count`` patches of ``patch`` px from the 2D ``sections`` at ``indices`` (the slices of
    a volume, or images of different shapes), uniform over those sections and, in each, over
    positions; drawn from the numpy generator ``gen``."""
    depth = len(sections)
    if any(not 0 <= s < depth for s in indices) or not indices:
        raise ConfigError(f"slices {indices} must be a non-empty list within [0, {depth})")
    shapes = np.array([sections[s].shape[-2:] for s in range(depth)])
    small = [s for s in indices if patch > shapes[s].min()]
    if small:
        height, width = shapes[small[0]]
        raise ConfigError(f"patch {patch} is larger than the slices ({height} x {width})")
    which = gen.choice(np.asarray(indices), size=count)
    # one array bound per draw: the same numbers as a scalar bound where all shapes agree
    rows = gen.integers(0, shapes[which, 0] - patch + 1)
    cols = gen.integers(0, shapes[which, 1] - patch + 1)
    return np.stack(
        [
            sections[s][r : r + patch, c : c + patch]
            for s, r, c in zip(which, rows, cols, strict=True)
        ]
    ).astype(np.float32)


def run(
    settings: PatchSettings, volume_path: str | Path | None, seed: int
) -> tuple[dict[str, np.ndarray], float, list[Normalisation]]:
    """``({"train": patches, "val": patches}, pixel size in A, each slice's normalisation)``
    of the EM volume."""
    if volume_path is None:
        from flowem.fetch import fetch

        volume_path = fetch(EM_VOLUME)
    volume, voxel_nm, fits = normalised_volume(volume_path, settings.normalise, settings.polarity)
    splits = {
        "train": (settings.train_slices, settings.n_train, 0),
        "val": (settings.val_slices, settings.n_val, 1),
    }
    patches = {
        name: random_patches(volume, slices, count, settings.patch, seed, stream)
        for name, (slices, count, stream) in splits.items()
    }
    return patches, 10.0 * float(voxel_nm[-1]), fits


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem em-patches", __doc__)
    parser.add_argument("--volume", default=None, help="EM volume TIFF (default: fetch ISBI 2012)")
    parser.add_argument("--train", required=True, help="output: training patches (.mrcs)")
    parser.add_argument("--val", required=True, help="output: validation patches (.mrcs)")
    args, params = parse(parser, argv, PatchSettings().to_dict())
    settings = PatchSettings.from_params(params)
    log = setup_logging(args.log, name="flowem.em_patches")
    patches, pixel_a, fits = run(settings, args.volume, args.seed)
    for path, (name, stack) in zip((args.train, args.val), patches.items(), strict=True):
        write_mrc(path, stack, pixel_a)
        slices = getattr(settings, f"{name}_slices")
        log.info("%s: %d patches of %d px from slices %s", path, len(stack), settings.patch, slices)
    config = {"seed": args.seed, "volume": args.volume or EM_VOLUME, **settings.to_dict()}
    config["normalisation"] = [fit.to_dict() for fit in fits]  # one per slice of the volume
    write_run_config(Path(args.train).parent, config, name="em_patches_config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
