"""Command ``simulate-particles``: Poisson measurements of the validation and test phase maps.

For each pose of the chosen splits (``poses.csv`` of ``simulate-phase-maps``) the phase map is
re-made at full resolution, passed through the microscope (per-particle defocus drawn uniformly
in ``[defocus_min_um, defocus_max_um]``), sampled with Poisson noise at full resolution and
binned by summing counts (``resolution: full``; the forward model used later works at the
binned size, a deliberate mismatch). ``resolution: matched`` simulates directly from the
binned phase map at the working pixel size.

Realistic specimen and detector (each a switch, all on by default; off: the vacuum model,
bit for bit): the maps are of the excess potential over the displaced ice (``solvent``, a
``phase_maps`` key), a Gaussian random field of ice phase is added to the exit wave on the
operator's periodic padded grid (``ice_background``; :mod:`flowem.physics.ice`), the envelope
``b_envelope_a2`` damps the transfer function, and the counting detector's MTF filters the
expected counts before Poisson sampling (``detector_mtf``; :mod:`flowem.physics.detector`).
The ice values were calibrated with ``flowem calibrate-background``.

Outputs per split in ``--outdir``: ``{split}_counts.mrcs`` (counts), ``{split}_phase.mrcs``
(ground-truth binned phase, radians), ``{split}.csv`` (particle table) and ``config.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from flowem.command import command_parser, guarded, parse
from flowem.data import phase_maps
from flowem.data.particle_table import particle_table
from flowem.errors import ConfigError, InputFileError
from flowem.io import read_table, write_mrc, write_table
from flowem.physics.binning import bin_mean, bin_sum
from flowem.physics.ctf import Optics
from flowem.physics.detector import apply_mtf
from flowem.physics.forward import MicroscopeForward
from flowem.physics.ice import IceBackground
from flowem.physics.phase import PhaseMapSimulator
from flowem.runtime import pick_device, rng, setup_logging, torch_generator, write_run_config
from flowem.settings import check_positive, resolve_params

log = logging.getLogger("flowem")

STAGE = "simulate_particles"

DEFAULTS: dict[str, Any] = {
    **{key: phase_maps.DEFAULTS[key] for key in phase_maps.GEOMETRY_KEYS},
    "splits": ["val", "test"],
    "resolution": "full",
    "dose_e_per_a2": 50.0,
    "defocus_min_um": 1.0,
    "defocus_max_um": 2.5,
    "astigmatism_max_a": 0.0,
    "cs_mm": 2.7,
    "amplitude_contrast": 0.07,
    "b_envelope_a2": 100.0,
    "aperture_inv_a": None,
    "forward_pad_factor": 2.0,
    "ice_background": True,
    "ice_phase_std_rad": 0.03,
    "ice_correlation_a": 400.0,
    "ice_spectrum_exponent": 2.0,
    "detector_mtf": True,
    "detector_mtf_sigma_nyquist": 1.5,
    "device": "cpu",
}


def optics_from(params: dict[str, Any]) -> Optics:
    aperture = params["aperture_inv_a"]
    return Optics(
        voltage_kv=float(params["voltage_kv"]),
        cs_mm=float(params["cs_mm"]),
        amplitude_contrast=float(params["amplitude_contrast"]),
        b_envelope_a2=float(params["b_envelope_a2"]),
        aperture_inv_a=None if aperture is None else float(aperture),
    )


def ice_from(params: dict[str, Any]) -> IceBackground | None:
    """The ice phase field of ``params``, or None when ``ice_background`` is off."""
    if not params["ice_background"]:
        return None
    return IceBackground(
        std_rad=float(params["ice_phase_std_rad"]),
        correlation_a=float(params["ice_correlation_a"]),
        exponent=float(params["ice_spectrum_exponent"]),
    )


def expected_counts(
    operator: MicroscopeForward,
    phase: torch.Tensor,
    defocus: tuple,
    params: dict[str, Any],
    generator: torch.Generator,
) -> torch.Tensor:
    """Expected counts of ``phase`` (B, H, W) in ice seen by the detector (cropped to H, W).

    The particle is zero-padded to ``operator``'s FFT grid, the ice field drawn on that
    periodic grid is added to its phase, the exit wave passes the same transfer function
    (``defocus``: the operator's) and the counting detector's MTF filters the intensity
    (see :mod:`flowem.physics.ice` and :mod:`flowem.physics.detector`).
    """
    height, width = operator.image_shape
    grid = operator.padded_shape
    padded = torch.nn.functional.pad(phase, (0, grid[1] - width, 0, grid[0] - height))
    ice = ice_from(params)
    if ice is not None:
        background = ice.sample(grid, operator.pixel_size_a, generator, count=len(phase))
        padded = padded + background.to(padded)
    periodic = MicroscopeForward(
        operator.optics,
        grid,
        operator.pixel_size_a,
        operator.dose_e_per_a2,
        *defocus,
        pad_factor=1.0,
    ).to(phase.device)
    counts = periodic(padded)
    if params["detector_mtf"]:
        sigma = float(params["detector_mtf_sigma_nyquist"])
        counts = apply_mtf(counts, operator.pixel_size_a, sigma).clamp_min(0.0)
    return counts[..., :height, :width]


def draw_defocus(seed: int, split_code: int, index: int, params: dict[str, Any]) -> tuple:
    """``(defocus_u_a, defocus_v_a, angle_deg)`` of one particle from stream (seed, split, i)."""
    gen = rng(seed, split_code, index)
    mean = gen.uniform(params["defocus_min_um"], params["defocus_max_um"]) * 1e4
    astig = gen.uniform(0.0, params["astigmatism_max_a"])
    angle = gen.uniform(0.0, 180.0)
    return mean + astig / 2, mean - astig / 2, angle


def simulate_particle(
    simulator: PhaseMapSimulator,
    rotation: Rotation,
    defocus: tuple,
    params: dict[str, Any],
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(counts, binned phase)`` of one particle, both ``(h, w)`` at the working pixel size."""
    geometry = simulator.geometry
    with torch.no_grad():
        full = simulator.full_resolution(rotation).to(torch.float64)
        phase = bin_mean(full, geometry.bin_factor)
        matched = params["resolution"] == "matched"
        source = phase if matched else full
        pixel = geometry.working_pixel_size_a if matched else geometry.pixel_size_a
        operator = MicroscopeForward(
            optics_from(params),
            tuple(source.shape[-2:]),
            pixel,
            float(params["dose_e_per_a2"]),
            *defocus,
            pad_factor=float(params["forward_pad_factor"]),
        ).to(source.device)
        if params["ice_background"] or params["detector_mtf"]:
            expected = expected_counts(operator, source, defocus, params, generator)
            counts = torch.poisson(expected, generator)
        else:  # the vacuum model, bit-identical to the plain operator
            counts = operator.sample(source, generator)
        if not matched:
            counts = bin_sum(counts, geometry.bin_factor)
    return counts[0], phase[0]


def _check(params: dict[str, Any]) -> None:
    check_positive(
        params, STAGE, "dose_e_per_a2", "defocus_min_um", "defocus_max_um", "forward_pad_factor"
    )
    if params["defocus_max_um"] < params["defocus_min_um"]:
        raise ConfigError(f"{STAGE}: defocus_max_um < defocus_min_um")
    if params["resolution"] not in ("full", "matched"):
        raise ConfigError(f"{STAGE}: resolution must be 'full' or 'matched'")
    unknown = set(params["splits"]) - set(phase_maps.SPLIT_CODES)
    if unknown:
        raise ConfigError(f"{STAGE}: unknown split(s) {sorted(unknown)}")


def _poses(path: Path, split: str) -> pd.DataFrame:
    table = read_table(path)
    needed = {"split", "quat_x", "quat_y", "quat_z", "quat_w"}
    if not needed <= set(table.columns):
        raise InputFileError(
            path, f"pose table lacks columns {sorted(needed - set(table.columns))}"
        )
    rows = table[table["split"] == split]
    quats = rows[["quat_x", "quat_y", "quat_z", "quat_w"]].to_numpy()
    if not np.isfinite(quats).all() or (
        len(quats) and np.any(np.abs(np.linalg.norm(quats, axis=1) - 1) > 1e-6)
    ):
        raise InputFileError(path, f"split {split!r} has invalid quaternions")
    return rows


#: split -> (counts, ground-truth phase, particle table)
Particles = dict[str, tuple[np.ndarray, np.ndarray, pd.DataFrame]]


def run(params: dict[str, Any], structure: str | Path, poses: str | Path, seed: int) -> Particles:
    """Measurements of every split in ``params["splits"]`` at the poses of ``poses``."""
    rows_of = {split: _poses(Path(poses), split) for split in params["splits"]}
    geometry = phase_maps.geometry_from(params)
    simulator = phase_maps.make_simulator(
        phase_maps.load_atoms(structure, params), params, pick_device(params["device"])
    )
    working_pixel = geometry.working_pixel_size_a
    results = {}
    for split, rows in rows_of.items():
        code = phase_maps.SPLIT_CODES[split]
        rotations = Rotation.from_quat(rows[["quat_x", "quat_y", "quat_z", "quat_w"]].to_numpy())
        counts, phases, defoci = [], [], []
        for i in tqdm(range(len(rows)), desc=split, unit="particle", leave=False):
            defocus = draw_defocus(seed, code, i, params)
            gen = torch_generator(seed, code, i, device=simulator.projector.device.type)
            y, x = simulate_particle(simulator, rotations[i : i + 1], defocus, params, gen)
            counts.append(y.float().cpu().numpy())
            phases.append(x.float().cpu().numpy())
            defoci.append(defocus)
        defoci = np.asarray(defoci, dtype=np.float64).reshape(-1, 3)
        table = particle_table(
            split=split,
            source="simulated",
            seed=seed,
            image_name=[f"{i + 1}@{split}_counts.mrcs" for i in range(len(rows))],
            defocus_u_a=defoci[:, 0],
            defocus_v_a=defoci[:, 1],
            astigmatism_angle_deg=defoci[:, 2],
            voltage_kv=params["voltage_kv"],
            cs_mm=params["cs_mm"],
            amplitude_contrast=params["amplitude_contrast"],
            pixel_size_a=working_pixel,
            dose_e_per_a2=params["dose_e_per_a2"],
            alpha=params["dose_e_per_a2"] * working_pixel**2,
            ctf_b_factor_a2=params["b_envelope_a2"],  # the envelope, as RELION records it
            **{q: rows[q].to_numpy() for q in ("quat_x", "quat_y", "quat_z", "quat_w")},
        )
        shape = (0, geometry.working_size_px, geometry.working_size_px)
        results[split] = (
            np.stack(counts) if counts else np.empty(shape, np.float32),
            np.stack(phases) if phases else np.empty(shape, np.float32),
            table,
        )
        log.info("%s: %d particles", split, len(rows))
    return results


def write(results: Particles, params: dict[str, Any], outdir: Path, figure: str | None) -> None:
    working_pixel = phase_maps.geometry_from(params).working_pixel_size_a
    for split, (counts, phases, table) in results.items():
        write_mrc(outdir / f"{split}_counts.mrcs", counts, working_pixel)
        write_mrc(outdir / f"{split}_phase.mrcs", phases, working_pixel)
        write_table(outdir / f"{split}.csv", table)
    shown_split = "test" if "test" in results else next(iter(results), None)
    if figure and shown_split and len(results[shown_split][0]):
        from flowem.data.figures import counts_montage

        counts, phases, table = results[shown_split]
        title = (
            f"Simulated measurements ({params['resolution']}"
            f" resolution, dose {params['dose_e_per_a2']} e/A^2)"
        )
        counts_montage(figure, counts, table.defocus_u_a, title, f"{shown_split} ")


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        "flowem simulate-particles", __doc__, outdir="output folder", threads=True
    )
    parser.add_argument("--structure", required=True, help="PDB/mmCIF atomic model")
    parser.add_argument("--poses", required=True, help="poses.csv of simulate-phase-maps")
    parser.add_argument("--figure", default=None, help="optional montage (PNG)")
    args, params = parse(parser, argv, DEFAULTS)
    params = resolve_params(params, DEFAULTS, STAGE)
    _check(params)
    setup_logging(args.log)
    results = run(params, args.structure, args.poses, args.seed)
    outdir = Path(args.outdir)
    write(results, params, outdir, args.figure)
    write_run_config(
        outdir,
        {
            "stage": STAGE,
            "seed": args.seed,
            "params": params,
            "structure": str(args.structure),
            "poses": str(args.poses),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
