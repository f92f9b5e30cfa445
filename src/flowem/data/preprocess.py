"""Command ``preprocess-particles``: a real particle stack + RELION STAR -> working-size counts.

Per particle: CTF parameters, pixel size and origin from the STAR file (any RELION 3.0 or 3.1
file, see :func:`flowem.io.star_particles`; RELION 3.1 optics groups merged into each row);
the image from ``--stack``, or else from the file that ``rlnImageName`` (``index@file``) names,
relative to the STAR file's folder; re-centring on the origin (sub-pixel) and resampling to
exactly ``pixel_size_a`` (``fourier``: band-limited interpolation at any ratio; ``bin``: an
integer factor, within 0.001 A), cropped to ``size_px``, then the intensity normalisation
(where the particle's box is smaller than ``size_px``, the counts are centred in it and padded
with ``alpha``; the solvent statistics come from the particle's own pixels only):

1. ``z = (image - mean_bg) / std_bg`` with the mean and standard deviation of the pixels
   outside the disc of radius ``background_radius`` * size/2 (the solvent);
2. ``y = alpha + sign * sqrt(alpha) * z``, clipped at 0, with ``alpha = dose * pixel_size^2``
   and ``sign = -1`` when the stack stores particles bright (RELION's ``--invert_contrast``;
   raw counts show them dark in underfocus), so the solvent has the mean and the variance of
   Poisson counts at the configured dose. ``invert_contrast: auto`` decides from the data:
   the stack is inverted when its central disc (radius size/4), low-passed, is on average
   brighter than its solvent. The mirror's EMPIAR-10076 stack has dark particles.

Outputs in ``--outdir``: ``counts.mrcs``, ``particles.csv`` (the simulated particles' table
format, with the achieved pixel size and RELION's ``rlnPhaseShift``, ``rlnCtfBfactor`` and
``rlnCtfScalefactor`` where given) and ``config.json``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from flowem.command import command_parser, guarded, parse
from flowem.data.particle_table import particle_table
from flowem.data.relion import RELION_CTF_EXTRAS, checked_particles, particle_images
from flowem.errors import ConfigError
from flowem.io import write_mrc, write_table
from flowem.physics.boxes import centre_crop_or_pad
from flowem.runtime import setup_logging, write_run_config
from flowem.settings import check_positive, resolve_params

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

#: how far (A) the achieved pixel size may lie from ``pixel_size_a`` (the prior's)
PIXEL_TOLERANCE_A = 1e-3


def fourier_resample(
    image: np.ndarray, step_px: float, size: int, centre_px: tuple[float, float] | None = None
) -> np.ndarray:
    """A square image's band-limited interpolant on a ``size x size`` grid of spacing
    ``step_px`` input pixels whose pixel ``size // 2`` lies at ``centre_px`` ((y, x); default
    the box centre ``n // 2``), frequencies above the new Nyquist ``1 / (2 step_px)`` removed.

    Downsampling by any real factor (exact pixel size), sub-pixel re-centring and cropping in
    one step: a matrix DFT, the mean kept. The image wraps around, as in any Fourier shift.
    A pair of frequencies at the new Nyquist (within 1e-6 cycles/px) counts half each, so an
    integer factor gives what cropping the spectrum gives.
    """
    n = image.shape[-1]
    centre_px = (n // 2, n // 2) if centre_px is None else centre_px
    freq = np.fft.fftfreq(n)
    distance = np.abs(freq) - 0.5 / step_px
    weight = (distance < -1e-6) + 0.5 * (np.abs(distance) <= 1e-6)
    if n % 2 == 0:  # the input's own Nyquist has no partner: it is the whole pair
        weight[n // 2] = weight[n // 2] > 0
    keep = weight > 0
    offsets = (np.arange(size) - size // 2) * step_px
    basis_y, basis_x = (
        np.exp(2j * np.pi * np.outer(centre + offsets, freq[keep])) * weight[keep] / n
        for centre in centre_px
    )
    return (basis_y @ np.fft.fft2(image)[np.ix_(keep, keep)] @ basis_x.T).real


def downsample(
    image: np.ndarray,
    pixel_a: float,
    target_a: float,
    method: str,
    size: int,
    centre_px: tuple[float, float] | None = None,
) -> tuple[np.ndarray, float]:
    """``(image, its pixel size)``: the particle centred on ``centre_px`` ((y, x) input pixels;
    default the box centre) at ``target_a`` per pixel (exactly for ``fourier``, by an integer
    factor within :data:`PIXEL_TOLERANCE_A` for ``bin``), cropped to at most ``size`` pixels:
    fewer where the particle's box is smaller (with the parity of ``size``, for ``fourier``).
    """
    n = image.shape[-1]
    if method == "bin":
        factor = round(target_a / pixel_a)
        if factor < 1 or abs(factor * pixel_a - target_a) > PIXEL_TOLERANCE_A or n % factor:
            raise ConfigError(
                f"{STAGE}: binning needs an integer factor dividing the box; "
                f"{target_a} / {pixel_a} A is not one (use downsample: fourier)"
            )
        if centre_px is not None:
            image = fourier_resample(image, 1.0, n, centre_px)
        binned = image.reshape(n // factor, factor, n // factor, factor).mean(axis=(1, 3))
        return centre_crop_or_pad(binned, size, pad=False), pixel_a * factor
    if target_a < pixel_a - PIXEL_TOLERANCE_A:
        raise ConfigError(
            f"{STAGE}: target pixel {target_a} A is finer than the data ({pixel_a} A)"
        )
    step = target_a / pixel_a
    inside = min(size, int(n / step + 1e-6))  # samples within the particle's box
    inside -= (size - inside) % 2  # same parity as the box: its centre stays on size // 2
    return fourier_resample(image, step, inside, centre_px), target_a


def normalise_to_counts(
    image: np.ndarray, alpha: float, invert: bool, radius: float, box_px: int | None = None
) -> np.ndarray:
    """Solvent-standardised image mapped to Poisson-like counts (see the module docstring),
    centred in a ``box_px`` box (default: its own size) padded with ``alpha``.

    The solvent is the image outside the disc of radius ``radius * box_px / 2`` (outside
    ``radius * size / 2`` when the image lies wholly inside that disc): never the padding.
    """
    size = image.shape[-1]
    box = size if box_px is None else box_px
    yy, xx = np.indices(image.shape) - (size - 1) / 2
    distance = np.hypot(yy, xx)
    solvent = distance > radius * box / 2
    if not solvent.any():
        solvent = distance > radius * size / 2
    mean, std = image[solvent].mean(), image[solvent].std()
    if not std > 0:
        raise FloatingPointError("solvent region has zero variance")
    z = (image - mean) / std
    sign = -1.0 if invert else 1.0
    counts = np.clip(alpha + sign * math.sqrt(alpha) * z, 0.0, None)
    before = (box - size) // 2
    return np.pad(counts, (before, box - size - before), constant_values=alpha)


def particles_are_bright(stack: np.ndarray, radius: float) -> bool:
    """Whether the mean low-passed central disc (radius size/4) is brighter than the solvent."""
    mean_image = ndimage.gaussian_filter(stack.mean(axis=0), stack.shape[-1] / 50)
    size = stack.shape[-1]
    yy, xx = np.indices(mean_image.shape) - (size - 1) / 2
    distance = np.hypot(yy, xx)
    centre = mean_image[distance < size / 4].mean()
    return bool(centre > mean_image[distance > radius * size / 2].mean())


def _check(params: dict[str, Any]) -> None:
    check_positive(params, STAGE, "pixel_size_a", "size_px", "dose_e_per_a2", "background_radius")
    if params["invert_contrast"] not in (True, False, "auto"):
        raise ConfigError(f"{STAGE}: invert_contrast must be true, false or 'auto'")
    if params["downsample"] not in ("fourier", "bin"):
        raise ConfigError(f"{STAGE}: downsample must be 'fourier' or 'bin'")
    if not params["background_radius"] < math.sqrt(2):
        raise ConfigError(f"{STAGE}: background_radius must be < sqrt(2)")


def run(params: dict[str, Any], stack_path: Path | None, star_path: Path) -> tuple:
    """``(counts (N, s, s) float32, particle table, contrast inverted)``; raises before anything
    is written."""
    particles = checked_particles(star_path)
    if params["max_particles"] is not None:
        particles = particles.iloc[: int(params["max_particles"])]
    stack = particle_images(particles["rlnImageName"], stack_path, star_path)
    invert = params["invert_contrast"]
    if invert == "auto":
        invert = particles_are_bright(stack, float(params["background_radius"]))
    counts, pixels, radius = [], [], float(params["background_radius"])
    for image, row in zip(stack, particles.itertuples(index=False), strict=True):
        centre = image.shape[-1] // 2
        shifted = row.origin_x_px != 0 or row.origin_y_px != 0
        image, pixel = downsample(
            image.astype(np.float64),
            float(row.pixel_size_a),
            float(params["pixel_size_a"]),
            params["downsample"],
            int(params["size_px"]),
            (centre - row.origin_y_px, centre - row.origin_x_px) if shifted else None,
        )
        alpha = params["dose_e_per_a2"] * pixel**2
        counts.append(normalise_to_counts(image, alpha, bool(invert), radius, params["size_px"]))
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
        **{
            column: particles[relion].astype(float).to_numpy()
            for relion, column in RELION_CTF_EXTRAS.items()
            if relion in particles
        },
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
    parser.add_argument(
        "--stack",
        default=None,
        help="MRC particle stack (default: the files rlnImageName names, beside the STAR file)",
    )
    parser.add_argument("--star", required=True, help="RELION STAR file of the stack")
    parser.add_argument("--figure", default=None, help="optional montage (PNG)")
    args, params = parse(parser, argv, DEFAULTS)
    params = resolve_params(params, DEFAULTS, STAGE)
    _check(params)
    log = setup_logging(args.log)
    stack = None if args.stack is None else Path(args.stack)
    counts, table, inverted = run(params, stack, Path(args.star))
    log.info("contrast inverted: %s", inverted)
    outdir = Path(args.outdir)
    write(counts, table, params["source"], outdir, args.figure)
    write_run_config(
        outdir,
        {
            "stage": STAGE,
            "seed": args.seed,
            "params": params,
            "stack": args.stack,
            "star": str(args.star),
            "contrast_inverted": inverted,
        },
    )
    log.info("%d particles -> %s", len(counts), outdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
