"""Physics stage: phase-map simulation speed and accuracy, Fourier slice vs analytic reference.

- ``maps_per_second``: paper-size phase maps of 3J9I (256 x 256 at 1.31 A/px, Fourier slice,
  cubic B-spline, padding 2) including the 4 x 4 binning to 64 x 64.
- ``reference_maps_per_second``: the analytic method (every atom's projected Gaussians) on a
  few of the same rotations, plus the same binning; ``speedup`` is the ratio.
- ``rel_l2_vs_reference``: largest relative L2 difference between the two methods' full-size
  maps over |k| <= Nyquist / 2 (the band both represent); ``rel_l2_binned_vs_reference``: the
  same for the whole 64 x 64 binned maps.
- ``cpu_ms_per_map``: CPU time (all threads) per map: the figure to trust on a shared machine,
  where wall-clock rates fall with other jobs' load.
- ``setup_seconds``: potential on the grid + its 3D FFT (once per structure).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parse_out, report
from flowem.errors import FetchError
from flowem.fetch import default_mirrors, fetch
from flowem.io import read_structure
from flowem.physics.analytic import analytic_projection
from flowem.physics.atoms import atoms_from_structure
from flowem.physics.binning import bin_mean
from flowem.physics.phase import PhaseMapGeometry, PhaseMapSimulator
from flowem.physics.rotations import random_rotations

REPO = Path(__file__).resolve().parents[1]
N_MAPS, BATCH, N_REFERENCE = 256, 32, 4


def structure_path() -> Path:
    try:
        return fetch(
            "pdb/3j9i.pdb",
            mirrors=[*default_mirrors(), REPO.parent / "shared" / "data"],
            cache_dir=REPO / "resources",
            allow_network=False,
        )
    except FetchError:
        return REPO.parent / "shared" / "data" / "pdb" / "3j9i.pdb"


def band_error(test: np.ndarray, reference: np.ndarray, fraction: float) -> float:
    k = np.fft.fftfreq(test.shape[-1])
    band = np.hypot(*np.meshgrid(k, k, indexing="ij")) <= 0.5 * fraction
    diff = np.fft.fft2(test - reference)[band]
    return float(np.linalg.norm(diff) / np.linalg.norm(np.fft.fft2(reference)[band]))


def main() -> None:
    out = parse_out("results/bench/simulate.json")
    atoms = atoms_from_structure(read_structure(structure_path()), b_factor_a2=50.0)
    geometry = PhaseMapGeometry()
    start = time.perf_counter()
    simulator = PhaseMapSimulator(atoms, geometry)
    setup = time.perf_counter() - start
    rotations = random_rotations(N_MAPS, np.random.default_rng(0))

    with torch.no_grad():
        simulator.binned(rotations[:BATCH])  # warm-up
        start, cpu_start = time.perf_counter(), time.process_time()
        for lo in range(0, N_MAPS, BATCH):
            simulator.binned(rotations[lo : lo + BATCH])
        fast_seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
        fast_full = simulator.full_resolution(rotations[:N_REFERENCE]).double().numpy()

    start = time.perf_counter()
    reference = np.stack(
        [
            simulator.sigma_e
            * analytic_projection(atoms, rotations[i], geometry.size_px, geometry.pixel_size_a)
            for i in range(N_REFERENCE)
        ]
    )
    reference_binned = bin_mean(torch.from_numpy(reference), geometry.bin_factor).numpy()
    reference_seconds = time.perf_counter() - start

    fast_binned = bin_mean(torch.from_numpy(fast_full), geometry.bin_factor).numpy()
    errors = [band_error(fast_full[i], reference[i], 0.5) for i in range(N_REFERENCE)]
    binned_errors = [
        float(
            np.linalg.norm(fast_binned[i] - reference_binned[i])
            / np.linalg.norm(reference_binned[i])
        )
        for i in range(N_REFERENCE)
    ]
    maps_per_second = N_MAPS / fast_seconds
    reference_per_second = N_REFERENCE / reference_seconds
    report(
        out,
        {
            "maps_per_second": round(maps_per_second, 1),
            "reference_maps_per_second": round(reference_per_second, 2),
            "speedup": round(maps_per_second / reference_per_second, 1),
            "cpu_ms_per_map": round(1000 * cpu_seconds / N_MAPS, 1),
            "rel_l2_vs_reference": round(max(errors), 5),
            "rel_l2_binned_vs_reference": round(max(binned_errors), 5),
            "setup_seconds": round(setup, 2),
            "n_maps": N_MAPS,
            "map_size": [geometry.size_px, geometry.working_size_px],
            "atoms": atoms.n_atoms,
            "fft_size": simulator.projector.padded_size,
            "torch_threads": torch.get_num_threads(),
        },
    )


if __name__ == "__main__":
    main()
