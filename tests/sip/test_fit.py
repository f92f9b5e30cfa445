"""The ``sip-fit`` command: parameter validation and tiny end-to-end runs of each experiment."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tests.conftest import toy_pdb_text

from flowem.errors import ConfigError
from flowem.io import read_json
from flowem.sip.fit import main
from flowem.sip.settings import settings_for

IMAGE_KEYS = {
    "param_energy_distance_initial",
    "param_energy_distance_final",
    "image_energy_distance_initial",
    "image_energy_distance_final",
}


@pytest.mark.parametrize(
    ("experiment", "params", "message"),
    [
        ("nanocluster", {"loss": "wasserstein"}, "sip.loss must be one of"),
        ("nanocluster", {"bandwidth": 0.0}, "bandwidth must be > 0"),
        ("nanocluster", {"bandwidth": -1.0}, "bandwidth must be > 0"),
        ("nanocluster", {"bandwidth": "wide"}, "bandwidth must be 'auto'"),
        ("1d", {"losses": ["energy", "sinkhorn"]}, "sip.losses"),
        ("1d", {"lr": 0}, "sip.lr must be > 0"),
        ("1d", {"sweep_lr": -0.1}, "sip.sweep_lr must be > 0"),
        ("protein", {"n_particles": 0}, "n_particles must be >= 1"),
        ("protein", {"pixel_size": 1.0}, "unknown keys"),
        ("tomography", {}, "unknown SIP experiment"),
    ],
)
def test_bad_params_are_rejected(experiment, params, message):
    with pytest.raises(ConfigError, match=message):
        settings_for(experiment, params)


def test_cli_reports_bad_params_in_one_line(tmp_path, capsys):
    code = main(["--experiment", "nanocluster", "--outdir", str(tmp_path),
                 "--params", json.dumps({"loss": "sinkhorn"})])  # fmt: skip
    assert code == 1
    assert "sip.loss must be one of" in capsys.readouterr().err


def _run(tmp_path, experiment, params, *extra):
    out = tmp_path / experiment
    argv = ["--experiment", experiment, "--outdir", str(out), "--params", json.dumps(params),
            "--seed", "3", "--no-progress", "--threads", "1", *extra]  # fmt: skip
    assert main(argv) == 0
    return out, read_json(out / "metrics.json")


def test_tiny_1d_run_writes_the_issue_keys(tmp_path):
    params = {"n_observed": 400, "n_particles": 400, "iterations": 60, "lr": 0.05,
              "w1_reference_size": 20000, "sweep_sigmas": [0.5], "sweep_max_iterations": 40,
              "sweep_check_every": 20, "baseline_iterations": 20, "kde_bins": 512}  # fmt: skip
    out, metrics = _run(tmp_path, "1d", params)
    for loss in ("energy", "kl"):
        assert set(metrics[loss]) >= {"w1_initial", "w1_final", "seconds"}
        assert metrics[loss]["w1_final"] < metrics[loss]["w1_initial"]
        assert (out / f"particles_{loss}.csv").is_file() and (
            out / f"densities_{loss}.png"
        ).is_file()
    assert {r["loss"] for r in metrics["sweep"]} == {"energy", "kl"}
    assert (out / "config.json").is_file() and (out / "sweep.png").is_file()
    _, metrics_again = _run(tmp_path / "again", "1d", params)
    assert metrics_again["energy"]["w1_final"] == metrics["energy"]["w1_final"]


def test_tiny_nanocluster_run(tmp_path):
    params = {"grid_size": 16, "n_observed": 60, "n_particles": 40, "iterations": 30,
              "lr": [0.05, 0.05], "baseline_states": 3, "baseline_iterations": 10}  # fmt: skip
    out, metrics = _run(tmp_path, "nanocluster", params, "--override", "loss=mmd")
    assert IMAGE_KEYS <= set(metrics) and metrics["loss"] == "mmd"
    assert metrics["param_energy_distance_final"] < metrics["param_energy_distance_initial"]
    assert set(metrics["baseline"]) >= {"param_energy_distance_final", "states"}
    assert (out / "parameter_densities.png").is_file() and (out / "particles.csv").is_file()


def test_tiny_protein_run(tmp_path, mirror_dir):
    params = {"grid_size": 16, "pixel_size_a": 10.0, "n_observed": 40, "n_particles": 8,
              "batch_size": 8, "iterations": 3, "baseline_states": 2, "baseline_rotations": 2,
              "baseline_iterations": 2, "pca_images": 20}  # fmt: skip
    structure = str(mirror_dir / "pdb" / "2cg9.pdb")
    out, metrics = _run(tmp_path, "protein", params, "--structure", structure)
    assert IMAGE_KEYS <= set(metrics)
    assert metrics["n_atoms"] == 1227 and len(metrics["eigenvalues"]) == 4
    assert (out / "mode_marginals.png").is_file() and (out / "image_pca.png").is_file()


def test_protein_flow_brings_the_particles_and_their_images_closer(tmp_path):
    # the protein experiment on a 40-atom toy structure (every mode moves each atom by ~1/sqrt(40)
    # of theta: a visible change, unlike 1,227 atoms at this size), two modes. Seeds 0-5 end at
    # 0.27-0.34 of the starting parameter distance and 0.57-0.65 of the image one, whose
    # V-statistic cannot fall below ~E|Y-Y'| (1/64 + 1/300) ~ 0.85 here
    structure = tmp_path / "toy.pdb"
    structure.write_text(toy_pdb_text(n_residues=20))
    params = {"grid_size": 32, "pixel_size_a": 2.0, "n_modes": 2, "n_observed": 300,
              "n_particles": 64, "batch_size": 64, "iterations": 200, "lr": 2.0, "log_every": 50,
              "baseline_states": 2, "baseline_rotations": 2, "baseline_iterations": 1,
              "pca_images": 4}  # fmt: skip
    out, metrics = _run(tmp_path, "protein", params, "--structure", str(structure))
    assert metrics["n_atoms"] == 40
    assert metrics["param_energy_distance_final"] < 0.5 * metrics["param_energy_distance_initial"]
    assert metrics["image_energy_distance_final"] < 0.8 * metrics["image_energy_distance_initial"]
    history = pd.read_csv(out / "history.csv")
    assert history["param_energy"].iloc[-1] < 0.5 * metrics["param_energy_distance_initial"]
