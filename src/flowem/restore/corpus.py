"""Command ``em-corpus``: training patches of EM across microscopes (the generalist prior).

The corpus is ISBI 2012 plus the mirror's ``em/`` data sets (``em_corpus.sets``; the CDeep3M
set, research / non-profit use only, joins only with ``include_restricted``). Every data set is
a list of 2D *sections*: the slices of a volume or the 2D images, in the order of its ``files``,
each cut into ``tiles x tiles`` equal tiles (row-major) where ``tiles > 1``; its fixed
``train`` / ``val`` / ``test`` splits are section numbers. Per section:

- **pixel size**: resampled to the common ``pixel_nm`` (cubic, anti-aliased when shrinking;
  :func:`flowem.restore.user_image.resample`). Default 10 nm, the coarsest native pixel of
  the TEM / FIB-SEM / SBEM sets, so that none is enlarged: ISBI (4 nm), EPFL (5 nm) and
  CDeep3M (~5.9 nm) are shrunk, FIB-25 and the platelets stay. Measured: the share of each
  set's variance above 0.25 cycles/px (normalised clean test sections) differs between the
  sets by a factor max/min of 194 at 4 nm, 69 at 6 nm, 25 at 8 nm and 13 at 10 nm (enlarged
  sets have almost none: 0.0007 at 4 nm), so 10 nm makes the sets look most alike to one
  prior. Sets with ``resample: false`` stay at their own pixel: the AxonDeepSeg SEM images
  (70-180 nm) show tissue 7-18x coarser, which enlarging to 10 nm would only make
  featureless; a set of unknown pixel size (the noisy SEM image) is taken as at the common
  pixel;
- **dtype** (uint8, uint16, float32): read as stored; the normalisation's statistics are
  dtype-free (``robust``) or the dtype's range (``fixed``);
- **intensity and polarity**: :func:`flowem.restore.normalise.fit_normalisation` with
  ``normalise`` (default ``robust``: median / low-passed robust spread to ISBI's) and the set's
  ``polarity`` (AxonDeepSeg's bright myelin: ``bright``, inverted to TEM-like contrast). A set
  without a clean reference (``reference: false``) has its spread corrected for its noise
  (wavelet estimate) and is never trained on.

Patches are drawn **balanced**: ``n_train`` (``n_val``) from each data set with training
(validation) sections, uniform over its sections and positions
(:func:`flowem.restore.patches.section_patches`), then shuffled together. ``--leave-out D``
drops data set ``D`` (the leave-one-data-set-out prior). Writes ``--train`` and ``--val`` as
float32 MRC stacks (pixel size: the common one, in angstrom) and ``em_corpus_config.json``
beside them: every section's normalisation, the splits and the patch count per data set.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flowem.command import command_parser, guarded, parse
from flowem.errors import ConfigError, InputFileError
from flowem.io import read_tiff, write_mrc
from flowem.restore.normalise import NORMALISE, POLARITY, Normalisation, fit_normalisation
from flowem.restore.patches import section_patches
from flowem.restore.tasks import TASKS
from flowem.runtime import rng, setup_logging, write_run_config
from flowem.settings import check_at_least, check_choice, check_positive, from_mapping, require

CORPUS_STREAM = 731
SPLITS = ("train", "val", "test")
#: the mirror's ADS SEM images in registry order, each with its sidecar's pixel size (nm)
_ADS = (
    ("sub-rat1_sample-data1_SEM.png", 180.0),
    ("sub-rat2_sample-data5_SEM.png", 93.0),
    ("sub-rat3_sample-data10_SEM.png", 100.0),
    ("sub-rat3_sample-data11_SEM.png", 100.0),
    ("sub-rat3_sample-data9_SEM.png", 100.0),
    ("sub-rat4_sample-data12_SEM.png", 100.0),
    ("sub-rat5_sample-data14_SEM.png", 130.0),
    ("sub-rat6_sample-data15_SEM.png", 130.0),
    ("sub-rat7_sample-Maxo03img60_SEM.png", 70.0),
    ("sub-rat8_sample-V915_SEM.png", 70.0),
)
_EM = "em/{}/{}"


def _span(start: int, stop: int) -> list[int]:
    return list(range(start, stop))


#: the default corpus: ISBI 2012 and the six ``em/`` sets of the mirror, with fixed splits
#: (slices of volumes, gaps between the splits of densely cut FIB-SEM; tiles of 2D images)
DEFAULT_SETS: dict[str, dict[str, Any]] = {
    "isbi2012_tem": {
        "files": ["em/isbi2012_train_volume.tif"],
        "pixel_nm": 4.0,
        "train": _span(0, 22),
        "val": [22, 23],
        "test": _span(24, 30),
    },
    "fib25_fibsem": {
        "files": [_EM.format("fib25_fly_medulla_fibsem", "fib25_validation_every16th_520x520.tif")],
        "pixel_nm": 10.0,
        "train": _span(0, 24),
        "val": [24, 25, 26],
        "test": _span(27, 33),
    },
    "axondeepseg_sem": {
        "files": [_EM.format("axondeepseg_rat_spinalcord_sem", name) for name, _ in _ADS],
        "pixel_nm": [nm for _, nm in _ADS],
        "polarity": "bright",
        "resample": False,
        "train": _span(0, 7),
        "val": [7],
        "test": [8, 9],  # rats 1-5, 6, 7-8
    },
    "cdeep3m_sbem": {
        "files": [_EM.format("cdeep3m_sbem_neuropil", "cdeep3m_mito_testsample_8slices_1024.tif")],
        "pixel_nm": 5.9,
        "restricted": True,
        "train": [0, 1, 2, 3],
        "val": [4, 5],
        "test": [6, 7],  # upstream's own split
    },
    "epfl_hippocampus_fibsem": {
        "files": [
            _EM.format("epfl_hippocampus_fibsem_crop", "exampleImage_3du-net_zerocostdl4mic.tif")
        ],
        "pixel_nm": 5.0,
        "train": _span(0, 32),
        "val": _span(34, 39),
        "test": _span(42, 51),
    },
    "platelet_sbfsem": {
        "files": [
            _EM.format("platelet_sbfsem_2slices", "platelet_50-images_z0.png"),
            _EM.format("platelet_sbfsem_2slices", "platelet_24-images_z0.png"),
        ],
        "pixel_nm": 10.0,
        "tiles": 2,  # sections 0-3: the first image's 2 x 2 tiles, 4-7: the second's
        "train": [0, 1, 2, 4, 5],
        "val": [6],
        "test": [3, 7],
    },
    "n2v_sem_noisy": {
        "files": [_EM.format("n2v_sem_demo_crop", "n2v_sem_demo_test_input.tif")],
        "pixel_nm": None,
        "resample": False,
        "reference": False,
        "train": [],
        "val": [],
        "test": [0],
    },
}


@dataclass(frozen=True)
class SetSpec:
    """One data set of the corpus (``em_corpus.sets.<name>``)."""

    files: list[str]  # registry ids: one volume TIFF, or 2D images (PNG/TIFF), in order
    pixel_nm: float | list[float] | None = None  # one for all files or one each; None: unknown
    polarity: str = "dark"  # membranes dark (TEM-like), bright (inverted), auto (found)
    tiles: int = 1  # each image cut into tiles x tiles sections
    train: list[int] = field(default_factory=list)
    val: list[int] = field(default_factory=list)
    test: list[int] = field(default_factory=list)
    resample: bool = True  # to the common pixel size; False: its own
    reference: bool = True  # False: no clean image: scored without reference, never trained on
    restricted: bool = False  # a licence restriction: only with include_restricted

    def __post_init__(self) -> None:
        section = "em_corpus.sets"
        require(bool(self.files), section, "a data set needs files")
        check_choice(self, section, "polarity", POLARITY)
        check_at_least(self, section, 1, "tiles")
        if isinstance(self.pixel_nm, list):
            require(len(self.pixel_nm) == len(self.files), section, "one pixel_nm per file or one")
        splits = [set(getattr(self, s)) for s in SPLITS]
        overlap = (splits[0] & splits[1]) | (splits[0] & splits[2]) | (splits[1] & splits[2])
        require(not overlap, section, f"sections {sorted(overlap)} in two splits")
        require(bool(self.test), section, "a data set needs test sections")
        require(not self.reference or bool(self.val), section, "validation sections to tune on")
        require(self.reference or not self.train, section, "no training on a set without reference")

    def file_pixel_nm(self, index: int) -> float | None:
        return self.pixel_nm[index] if isinstance(self.pixel_nm, list) else self.pixel_nm


@dataclass(frozen=True)
class CorpusSettings:
    """The corpus and its evaluation (``em_corpus`` config section)."""

    sets: dict[str, dict[str, Any]] = field(default_factory=lambda: deepcopy(DEFAULT_SETS))
    include_restricted: bool = False  # the CDeep3M set: research / non-profit use only
    pixel_nm: float = 10.0  # the common pixel size every resampled set is brought to
    patch: int = 64
    n_train: int = 1024  # training patches per data set (balanced)
    n_val: int = 64  # validation patches per data set
    normalise: str = "robust"  # per section (flowem.restore.normalise)
    tasks: list[str] = field(default_factory=lambda: ["denoise", "sr4", "deblur"])
    crop: int = 128  # test / validation crops of each section (restore-generalist)
    crop_grid: int = 1
    val_crop_grid: int = 1
    no_reference_crop: int = 256  # the centred crop of a set without reference (0: whole)

    def __post_init__(self) -> None:
        require(bool(self.sets), "em_corpus.sets", "no data sets")
        for name in self.sets:
            self.spec(name)  # each checked now, kept as given
        check_positive(self, "em_corpus", "pixel_nm")
        check_at_least(self, "em_corpus", 8, "patch", "crop")
        check_at_least(self, "em_corpus", 1, "n_train", "n_val", "crop_grid", "val_crop_grid")
        check_at_least(self, "em_corpus", 0, "no_reference_crop")
        check_choice(self, "em_corpus", "normalise", NORMALISE)
        unknown = sorted(set(self.tasks) - set(TASKS))
        require(not unknown, "em_corpus.tasks", f"unknown tasks {unknown}")

    def spec(self, name: str) -> SetSpec:
        """Data set ``name``'s settings."""
        value = self.sets[name]
        if isinstance(value, SetSpec):
            return value
        try:
            return from_mapping(SetSpec, value, f"em_corpus.sets.{name}")
        except ConfigError as exc:  # name the data set in SetSpec's own checks too
            where = f"em_corpus.sets.{name}"
            raise ConfigError(str(exc).replace("em_corpus.sets:", f"{where}:", 1)) from exc

    def active(self, leave_out: str | None = None) -> dict[str, SetSpec]:
        """The data sets in use (restricted ones only if included), less ``leave_out``."""
        if leave_out is not None and leave_out not in self.sets:
            raise ConfigError(f"em_corpus: no data set {leave_out!r}; known: {sorted(self.sets)}")
        specs = {name: self.spec(name) for name in self.sets if name != leave_out}
        return {n: s for n, s in specs.items() if self.include_restricted or not s.restricted}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CorpusSettings:
        return from_mapping(cls, params, "em_corpus")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CorpusSet:
    """One data set read: its sections (normalised float32, at ``pixel_nm`` each) and each
    section's normalisation and record."""

    name: str
    spec: SetSpec
    sections: list[np.ndarray]
    fits: list[Normalisation]
    pixel_nm: list[float]
    records: list[dict[str, Any]]

    def split(self, name: str) -> list[int]:
        indices = getattr(self.spec, name)
        bad = [i for i in indices if not 0 <= i < len(self.sections)]
        if bad:
            raise ConfigError(
                f"em_corpus.sets.{self.name}.{name}: sections {bad} outside its "
                f"{len(self.sections)} sections"
            )
        return list(indices)


def read_images(path: str | Path) -> list[np.ndarray]:
    """The 2D images of one file as stored (a TIFF's slices, or a PNG; grey + alpha: grey)."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        from PIL import Image

        try:
            with Image.open(path) as image:
                data = np.asarray(image)
        except OSError as exc:
            raise InputFileError(path, f"not a readable PNG ({exc})") from exc
        if data.ndim == 3:  # LA / RGB(A): the grey or first channel
            data = data[..., 0]
    else:
        data, _ = read_tiff(path)
    data = np.squeeze(data)
    if data.ndim not in (2, 3):
        raise InputFileError(path, f"expected 2D images or a stack of them, got {data.shape}")
    return list(data.reshape(-1, *data.shape[-2:]))


def tiles_of(image: np.ndarray, tiles: int) -> list[np.ndarray]:
    """``image`` cut into ``tiles x tiles`` equal tiles, row-major (the remainder dropped)."""
    h, w = image.shape[0] // tiles, image.shape[1] // tiles
    cells = [(r, c) for r in range(tiles) for c in range(tiles)]
    return [image[r * h : (r + 1) * h, c * w : (c + 1) * w] for r, c in cells]


def load_set(
    name: str, spec: SetSpec, settings: CorpusSettings, locate: Callable[[str], Path]
) -> CorpusSet:
    """Data set ``name``: every section resampled, normalised and recorded; ``locate`` gives a
    registry id's verified local path."""
    from flowem.restore.user_image import estimate_noise, grid_shape, resample

    sections, fits, pixels, records = [], [], [], []
    for index, file_id in enumerate(spec.files):
        native = spec.file_pixel_nm(index)
        for z, raw in enumerate(read_images(locate(file_id))):
            for t, tile in enumerate(tiles_of(raw, spec.tiles)):
                scaled = spec.resample and native is not None
                to_nm = settings.pixel_nm if scaled or native is None else native
                image = (
                    resample(tile, grid_shape(tile.shape, native, to_nm))
                    if scaled
                    else np.asarray(tile, np.float64)
                )
                noise = 0.0 if spec.reference else estimate_noise(image)
                fit = fit_normalisation(
                    image,
                    settings.normalise,
                    spec.polarity,
                    noise,
                    source=f"{name}: {file_id} slice {z} tile {t}",
                    dtype=raw.dtype,
                )
                sections.append(fit.apply(image))
                fits.append(fit)
                pixels.append(float(to_nm))
                records.append(
                    {
                        "section": len(records),
                        "file": file_id,
                        "slice": z,
                        "tile": t,
                        "native_pixel_nm": native,
                        "pixel_nm": float(to_nm),
                        "shape": list(image.shape),
                        **fit.to_dict(),
                    }
                )
    return CorpusSet(name, spec, sections, fits, pixels, records)


def set_stream(name: str) -> int:
    """A data set's own random stream, fixed by its name (not its place in the config)."""
    return zlib.crc32(name.encode())


def balanced_patches(
    sets: list[CorpusSet], split: str, count: int, patch: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` patches from each data set with sections in ``split`` (uniform over its
    sections and positions), shuffled together, and each patch's data set (index into
    ``sets``)."""
    key = SPLITS.index(split)
    stacks, labels = [], []
    for number, data in enumerate(sets):
        indices = data.split(split)
        if not indices:
            continue
        gen = rng(seed, CORPUS_STREAM, set_stream(data.name), key)
        stacks.append(section_patches(data.sections, indices, count, patch, gen))
        labels.append(np.full(count, number))
    if not stacks:
        raise ConfigError(f"em_corpus: no data set has {split} sections")
    order = rng(seed, CORPUS_STREAM, key).permutation(sum(map(len, stacks)))
    return np.concatenate(stacks)[order], np.concatenate(labels)[order]


def data_locator(data: dict[str, Any], include_restricted: bool) -> Callable[[str], Path]:
    """Registry id -> verified local path, as ``flowem fetch`` with the ``data`` settings;
    a restricted file only where the corpus includes restricted sets."""
    from flowem.fetch.command import DEFAULTS, run

    settings = {**DEFAULTS, **{k: v for k, v in data.items() if k in DEFAULTS}}
    return lambda file_id: run(settings, [file_id], include_restricted)[0]


def load_corpus(
    settings: CorpusSettings, locate: Callable[[str], Path], leave_out: str | None = None
) -> list[CorpusSet]:
    return [load_set(n, s, settings, locate) for n, s in settings.active(leave_out).items()]


def run(
    settings: CorpusSettings, locate: Callable[[str], Path], seed: int, leave_out: str | None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``({"train": patches, "val": patches}, record)`` of the corpus less ``leave_out``."""
    sets = load_corpus(settings, locate, leave_out)
    patches, counts = {}, {}
    for split, count in (("train", settings.n_train), ("val", settings.n_val)):
        patches[split], labels = balanced_patches(sets, split, count, settings.patch, seed)
        counts[split] = {s.name: int((labels == i).sum()) for i, s in enumerate(sets)}
    record = {
        "leave_out": leave_out,
        "patches_per_set": counts,
        "sets": {s.name: {**asdict(s.spec), "sections": s.records} for s in sets},
    }
    return patches, record


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem em-corpus", __doc__)
    parser.add_argument("--train", required=True, help="output: training patches (.mrcs)")
    parser.add_argument("--val", required=True, help="output: validation patches (.mrcs)")
    parser.add_argument(
        "--leave-out", default="all", help="a data set left out of the corpus ('all': none)"
    )
    defaults = {"corpus": CorpusSettings().to_dict(), "data": {}}
    args, params = parse(parser, argv, defaults)
    settings = CorpusSettings.from_params(params.get("corpus", {}))
    log = setup_logging(args.log, name="flowem.em_corpus")
    leave_out = None if args.leave_out == "all" else args.leave_out
    locate = data_locator(params.get("data", {}), settings.include_restricted)
    patches, record = run(settings, locate, args.seed, leave_out)
    for path, (split, stack) in zip((args.train, args.val), patches.items(), strict=True):
        write_mrc(path, stack, 10.0 * settings.pixel_nm)
        log.info("%s: %d patches, per set %s", path, len(stack), record["patches_per_set"][split])
    config = {"seed": args.seed, **settings.to_dict(), **record}
    write_run_config(Path(args.train).parent, config, name="em_corpus_config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
