"""Command ``restore-image``: a user's own TIFF or MRC image restored with the EM prior.

The image (2D, or a stack whose slices are restored one by one) may have any size (the prior
is stitched over it, :mod:`flowem.restore.stitching`), any dtype and intensity range, either
membrane polarity. Per slice: the image is resampled so that the restoration's pixel size is the
prior's (``restore.user.prior_pixel_nm``; for ``srK`` the measurement's pixel is K times that),
its noise std is taken from ``restore.user.noise_sigma`` or estimated (wavelet median
estimator), it is normalised (``restore.user.normalise``, ``polarity``:
:mod:`flowem.restore.normalise`), restored with ``restore.sampler`` (its ``lr`` from
``task_lr`` where set) for ``restore.user.task``, mapped back to grey levels and resampled onto
the image's own grid (``srK``: K times finer). The pixel size comes from ``--pixel-nm``, else
the MRC header or the TIFF's ImageJ or resolution tags.

Writes into ``--outdir``: ``restored.tif`` or ``restored.mrc`` (as the input; float32 grey
levels, the pixel size in its header), ``normalisation.json`` (each slice's statistics, the
polarity chosen, the noise std and where it came from), ``figures/restored.png`` and
``restore_image_config.json`` (every resolved parameter). Nothing is written unless the whole
restoration succeeds; each file appears whole or not at all.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import tifffile
import torch

from flowem.command import command_parser, guarded, parse
from flowem.errors import ConfigError, InputFileError
from flowem.io import check_finite, read_tiff, write_json, write_mrc, write_tiff
from flowem.restore.normalise import Normalisation, fit_normalisation
from flowem.restore.settings import USER_TASKS, RestoreSettings
from flowem.restore.tasks import make_task
from flowem.runtime import pick_device, setup_logging, torch_generator, write_run_config

MRC_SUFFIXES = (".mrc", ".mrcs", ".map", ".rec", ".st")
TIFF_SUFFIXES = (".tif", ".tiff")
USER_STREAM = 721
_NM_PER_RESOLUTION_UNIT = {2: 2.54e7, 3: 1e7}  # TIFF ResolutionUnit: 2 inch, 3 centimetre
_EDITOR_DPI = (1.0, 72.0, 96.0)  # resolutions image editors write when they know none


@dataclass
class UserImage:
    """Slices (Z, H, W) as stored, their dtype and pixel size in nm (None: not in the file)."""

    path: Path
    slices: np.ndarray
    pixel_nm: float | None
    kind: str  # "tiff" or "mrc"


def _tiff_tag_pixel_nm(path: Path) -> float | None:
    """x pixel size (nm) from the baseline TIFF tags XResolution + ResolutionUnit, if set."""
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        if "XResolution" not in tags or "ResolutionUnit" not in tags:
            return None
        num, den = tags["XResolution"].value
        unit = int(tags["ResolutionUnit"].value)
    per_unit = num / den if den else 0.0
    if unit not in _NM_PER_RESOLUTION_UNIT or per_unit <= 0 or per_unit in _EDITOR_DPI:
        return None
    return _NM_PER_RESOLUTION_UNIT[unit] / per_unit


def _read_mrc(path: Path) -> tuple[np.ndarray, float | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with mrcfile.open(path, mode="r", permissive=False) as mrc:
                data = np.asarray(mrc.data).copy()
                voxel_a = float(mrc.voxel_size.x)
    except (ValueError, RuntimeWarning, OSError, EOFError) as exc:
        raise InputFileError(path, f"not a readable MRC file ({exc})") from exc
    return data, (voxel_a / 10.0 if voxel_a > 0 else None)


def read_user_image(path: str | Path) -> UserImage:
    """A greyscale TIFF or MRC image or stack, checked: readable, finite, not colour."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such file")
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        data, voxel = read_tiff(path)
        pixel_nm = float(voxel[-1]) if voxel else _tiff_tag_pixel_nm(path)
        kind = "tiff"
    elif suffix in MRC_SUFFIXES:
        data, pixel_nm = _read_mrc(path)
        kind = "mrc"
    else:
        known = ", ".join(TIFF_SUFFIXES + MRC_SUFFIXES)
        raise InputFileError(path, f"not a TIFF or MRC image (suffix {suffix!r}; known: {known})")
    if data.size == 0:
        raise InputFileError(path, "the file holds no image")
    if data.ndim == 3 and data.shape[-1] in (3, 4) and data.shape[0] > 4:
        raise InputFileError(path, f"a colour image {data.shape}: give one greyscale channel")
    data = np.squeeze(data)
    if data.ndim not in (2, 3) or min(data.shape[-2:]) < 2:
        raise InputFileError(path, f"expected a 2D image or a stack of them, got {data.shape}")
    check_finite(data, path)
    return UserImage(path, data.reshape(-1, *data.shape[-2:]), pixel_nm, kind)


def resample(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` on a grid of ``shape`` covering the same field of view (cubic; Gaussian
    anti-aliasing where it shrinks), float64 grey levels."""
    from skimage.transform import resize

    image = np.asarray(image, dtype=np.float64)
    if tuple(image.shape) == tuple(shape):
        return image
    shrinks = any(n < m for n, m in zip(shape, image.shape, strict=True))
    return resize(image, shape, order=3, mode="reflect", anti_aliasing=shrinks)


def grid_shape(shape: tuple[int, int], pixel_nm: float, to_nm: float) -> tuple[int, int]:
    """The shape covering the field of view of ``shape`` pixels of ``pixel_nm`` at ``to_nm``."""
    return tuple(max(1, round(n * pixel_nm / to_nm)) for n in shape)


def estimate_noise(image: np.ndarray) -> float:
    """Noise std (grey levels) by the wavelet median estimator (Donoho; scikit-image)."""
    from skimage.restoration import estimate_sigma

    return float(estimate_sigma(np.asarray(image, dtype=np.float64)))


@dataclass
class UserRestoration:
    """The restored slices (Z, H', W') in grey levels on the image's grid, their pixel size,
    each slice's normalisation record and what the run resolved."""

    images: np.ndarray
    pixel_nm: float
    records: list[dict[str, Any]] = field(default_factory=list)
    resolved: dict[str, Any] = field(default_factory=dict)
    panels: dict[str, np.ndarray] = field(default_factory=dict)


def run(
    settings: RestoreSettings, model: str | Path, image_path: str | Path, seed: int
) -> UserRestoration:
    """Restore every slice of the user's image with the EM prior ``model``."""
    from flowem.prior.velocity import load_velocity
    from flowem.restore.sampling import Restorer

    log = logging.getLogger("flowem.restore_image")
    user = settings.user
    image = read_user_image(image_path)
    pixel_nm = user.pixel_nm if user.pixel_nm is not None else image.pixel_nm
    if pixel_nm is None:
        raise InputFileError(
            image.path, "no pixel size in the file's header: give it (--pixel-nm, nm)"
        )
    task = make_task(user.task, settings.degradation)
    factor = int(getattr(task.operator, "factor", 1))
    measured_nm = user.prior_pixel_nm * factor  # the measurement's pixel on the prior's grid
    out_nm = pixel_nm / factor  # the restoration's pixel on the image's own grid
    sampler = replace(settings.sampler, lr=settings.task_lr.get(user.task, settings.sampler.lr))
    device = pick_device(settings.device)
    restorer = Restorer(load_velocity(model, device), seed, device)
    images, records, panels = [], [], {}
    for z, raw in enumerate(image.slices):
        source = f"{image.path}" if len(image.slices) == 1 else f"{image.path} slice {z}"
        y = resample(raw, grid_shape(raw.shape, pixel_nm, measured_nm))
        estimated = user.noise_sigma is None
        sigma = estimate_noise(y) if estimated else float(user.noise_sigma)
        fit: Normalisation = fit_normalisation(
            y,
            user.normalise,
            user.polarity,
            sigma,
            source=source,
            dtype=raw.dtype,
            pixel_factor=factor,
        )
        shape = (y.shape[0] * factor, y.shape[1] * factor)
        y_norm = torch.from_numpy(fit.apply(y))[None, None]
        noise = torch.randn((1, 1, *shape), generator=torch_generator(seed, USER_STREAM, 2 * z))
        fresh = torch_generator(seed, USER_STREAM, 2 * z + 1)
        std = fit.normalised_std(sigma)
        restored = restorer.sample(task, y_norm, noise, sampler, settings, fresh, std)[0]
        out_shape = (raw.shape[0] * factor, raw.shape[1] * factor)
        images.append(resample(fit.invert(restored.numpy()), out_shape).astype(np.float32))
        records.append(
            {
                "slice": z,
                **fit.to_dict(),
                "noise_std_source": "estimated" if estimated else "given",
                "noise_std_normalised": std,
                "measured_shape": list(y.shape),
            }
        )
        if z == 0:
            panels = {"input (normalised)": y_norm.numpy()[0, 0], "restored": restored.numpy()}
        log.info("%s: %s, polarity %s, noise std %.4g", source, user.task, fit.polarity, sigma)
    resolved = {
        "task": user.task,
        "image_pixel_nm": pixel_nm,
        "pixel_nm_source": "given" if user.pixel_nm is not None else "header",
        "prior_pixel_nm": user.prior_pixel_nm,
        "measured_pixel_nm": measured_nm,
        "resampled": bool(abs(pixel_nm / measured_nm - 1.0) > 1e-6),
        "output_pixel_nm": out_nm,
        "sampler": sampler.to_dict(),
    }
    return UserRestoration(np.stack(images), out_nm, records, resolved, panels)


def write_restoration(path: Path, images: np.ndarray, pixel_nm: float, kind: str) -> Path:
    """The restored slices as float32 TIFF or MRC (2D where there is one), atomically."""
    data = images[0] if len(images) == 1 else images
    if kind == "mrc":
        return write_mrc(path, data, 10.0 * pixel_nm)
    return write_tiff(path, data, (pixel_nm, pixel_nm, pixel_nm))


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem restore-image",
        __doc__,
        outdir="output folder (restored.tif|mrc, normalisation.json, figures/)",
        threads=True,
    )
    parser.add_argument("--model", required=True, help="EMA EM prior written by train-prior (.pt)")
    parser.add_argument("--image", required=True, help="the image: TIFF or MRC, 2D or a stack")
    parser.add_argument("--task", choices=USER_TASKS, default=None, help="default: params")
    parser.add_argument(
        "--pixel-nm", type=float, default=None, help="the image's pixel size (default: header)"
    )
    args, params = parse(parser, argv, RestoreSettings().to_dict())
    user = dict(params.get("user", {}))
    if args.task:
        user["task"] = args.task
    if args.pixel_nm is not None:
        user["pixel_nm"] = args.pixel_nm
    settings = RestoreSettings.from_params({**params, "user": user})
    setup_logging(args.log, name="flowem.restore_image")
    image_path = Path(args.image)
    suffix = image_path.suffix.lower()
    if suffix not in TIFF_SUFFIXES + MRC_SUFFIXES:
        raise ConfigError(f"--image {image_path}: not a TIFF or MRC file name")
    result = run(settings, args.model, image_path, args.seed)
    outdir = Path(args.outdir)
    kind = "mrc" if suffix in MRC_SUFFIXES else "tiff"
    name = "restored.mrc" if kind == "mrc" else "restored.tif"
    write_restoration(outdir / name, result.images, result.pixel_nm, kind)
    write_json(outdir / "normalisation.json", {"slices": result.records})
    from flowem.restore.evaluate import plot_panels

    plot_panels(outdir / "figures" / "restored.png", result.panels, settings.user.task)
    config = {
        "model": str(args.model),
        "image": str(image_path),
        "seed": args.seed,
        "resolved": result.resolved,
        **settings.to_dict(),
    }
    write_run_config(outdir, config, name="restore_image_config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
