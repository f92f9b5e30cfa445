"""Command ``calibrate-background``: simulated against real particles, at the real optics.

Particles of ``--structure`` are simulated with the ``particles`` settings (``--particles``:
solvent, ice background, envelope, detector) at the real stack's box, pixel size, voltage, Cs,
amplitude contrast and defoci (cycled over the STAR rows), without binning, at the real
particles' dose ``dose_e_per_a2`` (their effective dose: what sets the background's ratio of
shot noise to ice; EMPIAR-10076 fits 30 e-/A^2). Real and simulated images
are each standardised by their background (pixels outside the disc of radius
``background_radius`` * box/2) and compared by

* the **normalised background power spectrum**: the periodogram of the background pixels
  (disc set to 0, divided by the background fraction), averaged over particles and rings of
  width 1/box from ``k_min`` to ``k_max`` (1/A), divided by its mean over those rings;
* the **particle/background contrast**: the excess variance inside the disc over the
  background variance, of images low-passed to ``contrast_lowpass_a`` (where the particle's
  signal lies above the shot noise), times the disc area (A^2) and divided by the molecule's
  mass (kDa): contrast per kDa, since the integrated image power of a weak phase object grows
  with its number of atoms. The real molecule's mass is ``real_mass_kda``.

Outputs in ``--outdir``: ``spectra.csv`` (ring, real, simulated, ratio), ``summary.json``
(contrast, per-ring agreement, spectrum minima of both, the ice parameters used) and
``--figure`` (spectra and example images side by side).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import gaussian_filter1d

from flowem.command import command_parser, guarded, parse, parse_params
from flowem.data import particles as simulation
from flowem.data import phase_maps
from flowem.data.relion import checked_particles, particle_images
from flowem.io import write_table
from flowem.physics.atoms import ScatteringAtoms
from flowem.physics.ctf import ctf_zero_frequencies
from flowem.physics.forward import MicroscopeForward
from flowem.physics.rotations import random_rotations
from flowem.physics.solvent import DA_PER_A3_PER_G_CM3, atom_volumes_a3
from flowem.runtime import rng, setup_logging, torch_generator, write_run_config
from flowem.settings import resolve_params

STAGE = "calibrate_background"

DEFAULTS: dict[str, Any] = {
    "n_simulated": 16,
    "dose_e_per_a2": 30.0,
    "background_radius": 0.8,
    "k_min_inv_a": 0.01,
    "k_max_inv_a": 0.25,
    "contrast_lowpass_a": 20.0,
    "real_mass_kda": 1400.0,
    "tolerance": 0.25,
}


def background_mask(size: int, radius: float) -> np.ndarray:
    """True outside the centred disc of radius ``radius * size / 2``."""
    yy, xx = np.mgrid[:size, :size] - size // 2
    return np.hypot(yy, xx) > radius * size / 2


def standardise(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each image minus its background mean, over its background standard deviation."""
    background = images[:, mask]
    mean, std = background.mean(axis=1), background.std(axis=1)
    return (images - mean[:, None, None]) / std[:, None, None]


def ring_spectrum(
    images: np.ndarray, mask: np.ndarray, pixel_size_a: float, k_min: float, k_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(k, power)``: the background's mean periodogram in rings of width 1/box (1/A)."""
    size = images.shape[-1]
    weight = mask.astype(np.float64)
    power = (np.abs(np.fft.fft2(images * weight)) ** 2).mean(axis=0) / weight.sum()
    k = np.hypot(*np.meshgrid(*[np.fft.fftfreq(size, pixel_size_a)] * 2, indexing="ij"))
    ring = np.round(k * size * pixel_size_a).astype(int)
    totals = np.bincount(ring.ravel(), power.ravel())
    counts = np.bincount(ring.ravel())
    radii = np.arange(len(counts)) / (size * pixel_size_a)
    keep = (radii >= k_min) & (radii <= k_max) & (counts > 0)
    return radii[keep], totals[keep] / counts[keep]


def minima_near(k: np.ndarray, power: np.ndarray, zeros: list[float], rings: int = 3) -> list:
    """For each CTF zero, the frequency (1/A) of the spectrum's minimum within ``rings``
    rings of it (lightly smoothed log power)."""
    curve = gaussian_filter1d(np.log(power), 0.7)
    width = k[1] - k[0]
    found = []
    for zero in zeros:
        near = np.flatnonzero(np.abs(k - zero) <= rings * width)
        found.append(round(float(k[near[np.argmin(curve[near])]]), 4) if len(near) else None)
    return found


def variance_ratio(
    images: np.ndarray, mask: np.ndarray, pixel_size_a: float, lowpass_a: float
) -> float:
    """Variance inside the disc over the background's, of the images low-passed to
    ``lowpass_a`` (A), averaged over the images."""
    size = images.shape[-1]
    k = np.hypot(*np.meshgrid(*[np.fft.fftfreq(size, pixel_size_a)] * 2, indexing="ij"))
    low = np.fft.ifft2(np.fft.fft2(images) * (k <= 1.0 / lowpass_a)).real
    inside, outside = low[:, ~mask].var(axis=1).mean(), low[:, mask].var(axis=1).mean()
    return float(inside / outside)


def contrast_per_kda(
    images: np.ndarray, mask: np.ndarray, pixel_size_a: float, lowpass_a: float, mass_kda: float
) -> float:
    """Excess low-passed variance inside the disc over the background's, times the disc area
    (A^2), per kDa."""
    area = (~mask).sum() * pixel_size_a**2
    return (variance_ratio(images, mask, pixel_size_a, lowpass_a) - 1.0) * area / mass_kda


def optics_of(table: pd.DataFrame) -> dict[str, float]:
    """Voltage, Cs and amplitude contrast of the stack (its first particle's)."""
    first = table.iloc[0]
    return {
        "voltage_kv": float(first["rlnVoltage"]),
        "cs_mm": float(first["rlnSphericalAberration"]),
        "amplitude_contrast": float(first["rlnAmplitudeContrast"]),
    }


def simulate_at_optics(
    params: dict[str, Any], structure: str | Path, table: pd.DataFrame, size: int, seed: int
) -> tuple[np.ndarray, float]:
    """``(counts, mass_kda)``: ``n_simulated`` particles at the real box, pixel and CTFs."""
    pixel = float(table["pixel_size_a"].iloc[0])
    optics = optics_of(table)
    geometry = {"size_px": size, "pixel_size_a": pixel, "bin_factor": 1}
    settings = {
        **params["particles"],
        **optics,
        **geometry,
        "dose_e_per_a2": params["dose_e_per_a2"],
    }
    atoms = phase_maps.load_atoms(structure, settings)
    simulator = phase_maps.make_simulator(atoms, settings)
    rotations = random_rotations(int(params["n_simulated"]), rng(seed, 7))
    images = []
    for i in range(len(rotations)):
        row = table.iloc[i % len(table)]
        defocus = (row["rlnDefocusU"], row["rlnDefocusV"], row["rlnDefocusAngle"])
        with torch.no_grad():
            phase = simulator.full_resolution(rotations[i : i + 1]).to(torch.float64)
            operator = MicroscopeForward(
                simulation.optics_from(settings),
                (size, size),
                pixel,
                float(settings["dose_e_per_a2"]),
                *defocus,
                pad_factor=float(settings["forward_pad_factor"]),
            )
            gen = torch_generator(seed, 7, i)
            expected = simulation.expected_counts(operator, phase, defocus, settings, gen)
            images.append(torch.poisson(expected, gen)[0].numpy())
    return np.stack(images), molecule_mass_kda(atoms)


def molecule_mass_kda(atoms: ScatteringAtoms) -> float:
    """Mass of the model (kDa), with its implicit hydrogens when it has none."""
    volume_a3 = atom_volumes_a3(atoms, protein_density_g_cm3=1.0).sum()
    return float(volume_a3 * DA_PER_A3_PER_G_CM3) / 1000.0


def run(
    params: dict[str, Any], structure: str | Path, stack: str | Path, star: str | Path, seed: int
) -> tuple[pd.DataFrame, dict[str, Any], np.ndarray, np.ndarray]:
    """``(spectra table, summary, real images, simulated images)``, both standardised."""
    table = checked_particles(Path(star))
    real = particle_images(table["rlnImageName"], Path(stack), Path(star)).astype(np.float64)
    size, pixel = real.shape[-1], float(table["pixel_size_a"].iloc[0])
    simulated, mass = simulate_at_optics(params, structure, table, size, seed)
    mask = background_mask(size, float(params["background_radius"]))
    band = (float(params["k_min_inv_a"]), float(params["k_max_inv_a"]))
    real, simulated = standardise(real, mask), standardise(simulated, mask)
    k, p_real = ring_spectrum(real, mask, pixel, *band)
    _, p_sim = ring_spectrum(simulated, mask, pixel, *band)
    p_real, p_sim = p_real / p_real.mean(), p_sim / p_sim.mean()
    ratio = p_sim / p_real
    spectra = pd.DataFrame({"k_inv_a": k, "real": p_real, "simulated": p_sim, "ratio": ratio})
    lowpass = float(params["contrast_lowpass_a"])
    contrast_real = contrast_per_kda(real, mask, pixel, lowpass, float(params["real_mass_kda"]))
    contrast_sim = contrast_per_kda(simulated, mask, pixel, lowpass, mass)
    tol = float(params["tolerance"])
    mean_defocus = float(table[["rlnDefocusU", "rlnDefocusV"]].to_numpy().mean())
    real_optics = simulation.optics_from({**params["particles"], **optics_of(table)})
    # the zeros inside the band that the rings resolve (4 rings or more from the next one)
    zeros = ctf_zero_frequencies(real_optics, mean_defocus, 200)
    width = 1.0 / (size * pixel)
    zeros = [z for z, after in itertools.pairwise(zeros) if after - z >= 4 * width]
    zeros = [z for z in zeros if band[0] <= z <= band[1]]
    summary = {
        "rings": len(k),
        "fraction_within_tolerance": float(np.mean(np.abs(ratio - 1.0) <= tol)),
        "median_abs_deviation": float(np.median(np.abs(ratio - 1.0))),
        "max_abs_deviation": float(np.max(np.abs(ratio - 1.0))),
        "ctf_zeros_inv_a": [round(z, 4) for z in zeros],
        "minima_real_inv_a": minima_near(k, p_real, zeros),
        "minima_simulated_inv_a": minima_near(k, p_sim, zeros),
        "ring_width_inv_a": float(k[1] - k[0]),
        "contrast_per_kda_real": contrast_real,
        "contrast_per_kda_simulated": contrast_sim,
        "contrast_ratio": contrast_sim / contrast_real,
        "variance_ratio_real": variance_ratio(real, mask, pixel, lowpass),
        "variance_ratio_simulated": variance_ratio(simulated, mask, pixel, lowpass),
        "mass_kda_real": float(params["real_mass_kda"]),
        "mass_kda_simulated": mass,
        "pixel_size_a": pixel,
        "box_px": size,
        "defocus_mean_a": mean_defocus,
    }
    return spectra, summary, real, simulated


def figure(
    path: str, spectra: pd.DataFrame, zeros: list[float], real: np.ndarray, simulated: np.ndarray
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    ax.semilogy(spectra.k_inv_a, spectra.real, label="real (EMPIAR)", lw=1)
    ax.semilogy(spectra.k_inv_a, spectra.simulated, label="simulated", lw=1)
    ax.set_xlabel("spatial frequency (1/A)")
    for zero in zeros:
        ax.axvline(zero, color="0.8", lw=0.6, zorder=0)
    ax.set_ylabel("normalised background power (grey: CTF zeros)")
    ax.legend()
    ax.set_title("background power spectrum")
    for ax, image, title in ((axes[1], real[0], "real"), (axes[2], simulated[0], "simulated")):
        ax.imshow(image, cmap="gray", vmin=-3, vmax=3)
        ax.set_title(f"{title} (standardised)")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem calibrate-background", __doc__, outdir="output folder")
    parser.add_argument("--structure", required=True, help="PDB/mmCIF atomic model")
    parser.add_argument("--stack", required=True, help="real particle stack (MRC)")
    parser.add_argument("--star", required=True, help="its RELION STAR file")
    parser.add_argument("--figure", default=None, help="spectra and images side by side (PNG)")
    parser.add_argument("--particles", default="{}", help="the particles section (JSON)")
    args, params = parse(parser, argv, DEFAULTS)
    params = resolve_params(params, DEFAULTS, STAGE)
    particles = resolve_params(parse_params(args.particles), simulation.DEFAULTS, "particles")
    params = {**params, "particles": particles}
    setup_logging(args.log)
    spectra, summary, real, simulated = run(
        params, args.structure, args.stack, args.star, args.seed
    )
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    write_table(outdir / "spectra.csv", spectra)
    (outdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.figure:
        figure(args.figure, spectra, summary["ctf_zeros_inv_a"], real, simulated)
    write_run_config(outdir, {"stage": STAGE, "seed": args.seed, "params": params})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
