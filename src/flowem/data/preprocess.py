"""Command ``preprocess-particles``: a real particle stack + RELION STAR -> working-size counts.

Per particle: CTF parameters and pixel size from the STAR file (``rlnImagePixelSize``, or
``rlnDetectorPixelSize`` [um] * 1e4 / ``rlnMagnification``; RELION 3.1 optics groups merged),
downsampling to ``pixel_size_a`` by Fourier cropping (any factor) or binning (integer factor),
centre crop / zero-pad to ``size_px``, then the intensity normalisation:

1. ``z = (image - mean_bg) / std_bg`` with the mean and standard deviation of the pixels
   outside the disc of radius ``background_radius`` * size/2 (the solvent);
2. ``y = alpha + sign * sqrt(alpha) * z``, clipped at 0, with ``alpha = dose * pixel_size^2``
   and ``sign = -1`` when the stack stores particles bright (RELION's ``--invert_contrast``;
   raw counts show them dark in underfocus), so the solvent has the mean and the variance of
   Poisson counts at the configured dose. ``invert_contrast: auto`` decides from the data:
   the stack is inverted when its central disc (radius size/4), low-passed, is on average
   brighter than its solvent. The mirror's EMPIAR-10076 stack has dark particles.

Outputs in ``--outdir``: ``counts.mrcs``, ``particles.csv`` (the simulated particles' table
format) and ``config.json``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from flowem.command import command_parser, guarded, parse
from flowem.data.params import require_positive, resolve_params
from flowem.data.particle_table import particle_table
from flowem.errors import ConfigError, InputFileError
from flowem.io import read_mrc, read_star, require_columns, write_mrc, write_table
from flowem.physics.boxes import centre_crop_or_pad
from flowem.runtime import setup_logging, write_run_config

STAGE = "preprocess_particles"

DEFAULTS: dict[str, Any] = {
    "pixel_size_a": 5.24,
    "size_px": 64,
    "downsample": "fourier",
    "dose_e_per_a2": 50.0,
    "invert_contrast": "auto",
    "background_radius": 0.8,
    "source": "empiar_10076",
    "max_particles": None,
}

CTF_COLUMNS = (
    "rlnDefocusU",
    "rlnDefocusV",
    "rlnDefocusAngle",
    "rlnVoltage",
    "rlnSphericalAberration",
    "rlnAmplitudeContrast",
)


def star_particles(path: Path) -> pd.DataFrame:
    """Particle rows with optics columns merged in and ``pixel_size_a`` computed."""
    blocks = read_star(path)
    if "particles" not in blocks:
        raise InputFileError(path, "STAR file has no particles block")
    particles = blocks["particles"].copy()
    optics = blocks.get("optics")
    if optics is not None and "rlnOpticsGroup" in particles and "rlnOpticsGroup" in optics:
        extra = [c for c in optics.columns if c not in particles.columns or c == "rlnOpticsGroup"]
        particles = particles.merge(optics[extra], on="rlnOpticsGroup", how="left")
    require_columns(particles, ("rlnImageName", *CTF_COLUMNS), path, "particles")
    if "rlnImagePixelSize" in particles:
        pixel = particles["rlnImagePixelSize"].astype(float)
    elif {"rlnDetectorPixelSize", "rlnMagnification"} <= set(particles.columns):
        pixel = (
            particles["rlnDetectorPixelSize"].astype(float)
            * 1e4
            / particles["rlnMagnification"].astype(float)
        )
    else:
        raise InputFileError(
            path,
            "STAR file gives no pixel size (rlnImagePixelSize, or "
            "rlnDetectorPixelSize and rlnMagnification)",
        )
    particles["pixel_size_a"] = pixel
    numeric = particles[[*CTF_COLUMNS, "pixel_size_a"]].astype(float).to_numpy()
    if not np.isfinite(numeric).all() or (particles["pixel_size_a"] <= 0).any():
        raise InputFileError(path, "non-finite CTF values or non-positive pixel size")
    return particles


def stack_indices(names: pd.Series, stack_path: Path, count: int, star_path: Path) -> np.ndarray:
    """0-based stack positions from ``rlnImageName`` ('N@file'); checks against the stack."""
    if len(names) != count:
        raise InputFileError(
            star_path, f"{len(names)} particles in the STAR file but {count} images in {stack_path}"
        )
    try:
        index = np.array([int(str(name).split("@")[0]) - 1 for name in names])
    except ValueError as exc:
        raise InputFileError(star_path, f"unreadable rlnImageName ({exc})") from exc
    if index.min() < 0 or index.max() >= count:
        raise InputFileError(star_path, f"rlnImageName refers to images outside 1..{count}")
    return index


def fourier_crop(image: np.ndarray, new_size: int) -> np.ndarray:
    """Resample a square image to ``new_size`` by cropping its centred spectrum (mean kept)."""
    size = image.shape[-1]
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    lo = size // 2 - new_size // 2
    cropped = spectrum[lo : lo + new_size, lo : lo + new_size]
    return np.fft.ifft2(np.fft.ifftshift(cropped)).real * (new_size / size) ** 2


def downsample(image: np.ndarray, pixel_a: float, target_a: float, method: str) -> tuple:
    """``(image, actual_pixel_a)`` resampled to about ``target_a`` per pixel."""
    size = image.shape[-1]
    if method == "bin":
        factor = round(target_a / pixel_a)
        if factor < 1 or abs(factor * pixel_a - target_a) > 0.01 * target_a or size % factor:
            raise ConfigError(
                f"{STAGE}: binning needs an integer factor dividing the box; "
                f"{target_a} / {pixel_a} A is not one (use downsample: fourier)"
            )
        binned = image.reshape(size // factor, factor, size // factor, factor).mean(axis=(1, 3))
        return binned, pixel_a * factor
    new_size = 2 * round(size * pixel_a / target_a / 2)
    if new_size > size:
        raise ConfigError(
            f"{STAGE}: target pixel {target_a} A is finer than the data ({pixel_a} A)"
        )
    return fourier_crop(image, new_size), size * pixel_a / new_size


def normalise_to_counts(image: np.ndarray, alpha: float, invert: bool, radius: float) -> np.ndarray:
    """Solvent-standardised image mapped to Poisson-like counts (see the module docstring)."""
    size = image.shape[-1]
    yy, xx = np.indices(image.shape) - (size - 1) / 2
    solvent = np.hypot(yy, xx) > radius * size / 2
    mean, std = image[solvent].mean(), image[solvent].std()
    if not std > 0:
        raise FloatingPointError("solvent region has zero variance")
    z = (image - mean) / std
    sign = -1.0 if invert else 1.0
    return np.clip(alpha + sign * math.sqrt(alpha) * z, 0.0, None)


def particles_are_bright(stack: np.ndarray, radius: float) -> bool:
    """Whether the mean low-passed central disc (radius size/4) is brighter than the solvent."""
    mean_image = ndimage.gaussian_filter(stack.mean(axis=0), stack.shape[-1] / 50)
    size = stack.shape[-1]
    yy, xx = np.indices(mean_image.shape) - (size - 1) / 2
    distance = np.hypot(yy, xx)
    centre = mean_image[distance < size / 4].mean()
    return bool(centre > mean_image[distance > radius * size / 2].mean())


def _check(params: dict[str, Any]) -> None:
    require_positive(params, STAGE, "pixel_size_a", "size_px", "dose_e_per_a2", "background_radius")
    if params["invert_contrast"] not in (True, False, "auto"):
        raise ConfigError(f"{STAGE}: invert_contrast must be true, false or 'auto'")
    if params["downsample"] not in ("fourier", "bin"):
        raise ConfigError(f"{STAGE}: downsample must be 'fourier' or 'bin'")
    if not params["background_radius"] < math.sqrt(2):
        raise ConfigError(f"{STAGE}: background_radius must be < sqrt(2)")


def run(params: dict[str, Any], stack_path: Path, star_path: Path) -> tuple:
    """``(counts (N, s, s) float32, particle table, contrast inverted)``; raises before anything
    is written."""
    particles = star_particles(star_path)
    stack, _ = read_mrc(stack_path)  # header pixel size is often unset: the STAR's is used
    stack = stack[None] if stack.ndim == 2 else stack
    if stack.ndim != 3 or stack.shape[1] != stack.shape[2]:
        raise InputFileError(stack_path, f"expected a stack of square images, got {stack.shape}")
    index = stack_indices(particles["rlnImageName"], stack_path, len(stack), star_path)
    if params["max_particles"] is not None:
        particles, index = (
            particles.iloc[: int(params["max_particles"])],
            index[: int(params["max_particles"])],
        )
    invert = params["invert_contrast"]
    if invert == "auto":
        invert = particles_are_bright(stack[index], float(params["background_radius"]))
    counts, pixels = [], []
    for i, row in zip(index, particles.itertuples(index=False), strict=True):
        image, pixel = downsample(
            stack[i].astype(np.float64),
            float(row.pixel_size_a),
            float(params["pixel_size_a"]),
            params["downsample"],
        )
        image = centre_crop_or_pad(image, int(params["size_px"]))
        alpha = params["dose_e_per_a2"] * pixel**2
        counts.append(
            normalise_to_counts(image, alpha, bool(invert), float(params["background_radius"]))
        )
        pixels.append(pixel)
    pixels = np.asarray(pixels)
    table = particle_table(
        split="real",
        source=params["source"],
        seed=-1,
        image_name=particles["rlnImageName"].astype(str).to_numpy(),
        defocus_u_a=particles["rlnDefocusU"].astype(float).to_numpy(),
        defocus_v_a=particles["rlnDefocusV"].astype(float).to_numpy(),
        astigmatism_angle_deg=particles["rlnDefocusAngle"].astype(float).to_numpy(),
        voltage_kv=particles["rlnVoltage"].astype(float).to_numpy(),
        cs_mm=particles["rlnSphericalAberration"].astype(float).to_numpy(),
        amplitude_contrast=particles["rlnAmplitudeContrast"].astype(float).to_numpy(),
        pixel_size_a=pixels,
        dose_e_per_a2=float(params["dose_e_per_a2"]),
        alpha=params["dose_e_per_a2"] * pixels**2,
    )
    return np.stack(counts).astype(np.float32), table, bool(invert)


def write(counts: np.ndarray, table: pd.DataFrame, source: str, outdir: Path, figure) -> None:
    write_mrc(outdir / "counts.mrcs", counts, float(table["pixel_size_a"].iloc[0]))
    write_table(outdir / "particles.csv", table)
    if figure:
        from flowem.data.figures import counts_montage

        title = f"Real particles ({source}), {table.pixel_size_a[0]:.2f} A/px"
        counts_montage(figure, counts, table.defocus_u_a, title)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem preprocess-particles", __doc__, outdir="output folder", threads=True
    )
    parser.add_argument("--stack", required=True, help="MRC particle stack")
    parser.add_argument("--star", required=True, help="RELION STAR file of the stack")
    parser.add_argument("--figure", default=None, help="optional montage (PNG)")
    args, params = parse(parser, argv, DEFAULTS)
    params = resolve_params(params, DEFAULTS, STAGE)
    _check(params)
    log = setup_logging(args.log)
    counts, table, inverted = run(params, Path(args.stack), Path(args.star))
    log.info("contrast inverted: %s", inverted)
    outdir = Path(args.outdir)
    write(counts, table, params["source"], outdir, args.figure)
    write_run_config(
        outdir,
        {
            "stage": STAGE,
            "seed": args.seed,
            "params": params,
            "stack": str(args.stack),
            "star": str(args.star),
            "contrast_inverted": inverted,
        },
    )
    log.info("%d particles -> %s", len(counts), outdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
