"""The method comparison of the image experiments (issue 19): poses, intervals, rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from tests.conftest import toy_pdb_text

from flowem.errors import ConfigError
from flowem.io import read_json
from flowem.physics.rotations import random_rotations
from flowem.runtime import torch_generator
from flowem.sip.experiments import Experiment
from flowem.sip.fit import main as fit_main
from flowem.sip.interval import EnergyBootstrap
from flowem.sip.methods import observed_poses
from flowem.sip.protein import NormalModeProjector
from flowem.sip.settings import settings_for
from flowem.sip.simulation import reported_energy, simulate
from flowem.sip.summary import main as summary_main


def test_replayed_poses_are_the_rotations_behind_the_observed_images():
    rng = np.random.default_rng(0)
    coords = rng.normal(scale=10.0, size=(30, 3))
    modes = np.linalg.qr(rng.normal(size=(90, 2)))[0].T.reshape(2, 30, 3)
    forward = NormalModeProjector(coords, modes, pixel_size_a=2.0, grid_size=16, noise_sigma=0.0)
    exp = Experiment("protein", forward, None, None, ["mode_1", "mode_2"], {})
    theta = rng.normal(scale=5.0, size=(600, 2))  # three simulate() chunks
    observed = simulate(exp, theta, torch_generator(0, 2))
    poses = observed_poses(exp, theta, torch_generator(0, 2))
    clean = forward.clean(torch.as_tensor(theta, dtype=torch.float32), poses)
    assert torch.allclose(clean, observed, atol=1e-5)
    other = torch.as_tensor(random_rotations(600, torch_generator(1, 2)).as_matrix()).float()
    shuffled = forward.clean(torch.as_tensor(theta, dtype=torch.float32), other)
    assert not torch.allclose(shuffled, observed, atol=1e-2)


def test_bootstrap_replicates_are_centred_on_the_unbiased_estimate():
    """Pairs of copies of one point are left out, so the replicates of two samples of one law
    average to the U-statistic; counting them (n^2 normalisation) would add ~E|X-X'|/n."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(400, 2))
    boot = EnergyBootstrap(y, 2000, np.random.default_rng(2))
    values = boot.replicate_values(x)
    estimate = reported_energy(x, y)
    spread_bias = np.mean(np.linalg.norm(x[:, None] - x[None], axis=-1)) / len(x)  # ~0.06
    assert abs(values.mean() - estimate) < 0.25 * spread_bias
    low, high = boot.interval(x)
    assert low < 0 < high
    low, high = boot.interval(x + 1.5)
    assert low > 0 and high > low


def test_unknown_methods_are_rejected():
    with pytest.raises(ConfigError, match="methods must be among"):
        settings_for("nanocluster", {"methods": ["cryogan"]})
    with pytest.raises(ConfigError, match="methods"):
        settings_for("1d", {"methods": ["vae"]})  # 1D has no method comparison


def _fit(tmp_path, experiment, params, *extra):
    out = tmp_path / experiment
    argv = ["--experiment", experiment, "--outdir", str(out), "--params", json.dumps(params),
            "--seed", "0", "--no-progress", "--threads", "1", *extra]  # fmt: skip
    assert fit_main(argv) == 0
    return out


BUDGET = {"adversarial_iterations": 4, "vae_iterations": 4, "bootstrap_replicates": 20}


def _check_rows(out, expected):
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {r["method"]: r for r in metrics["methods"]}
    assert list(rows) == expected
    assert (out / "method_marginals.png").is_file()
    # the main flow's and the baseline's rows are their own metrics
    assert rows["energy"]["param_energy_distance"] == metrics["param_energy_distance_final"]
    baseline_image = metrics["baseline"]["image_energy_distance_final"]
    assert rows["dto"]["image_energy_distance"] == baseline_image
    for row in rows.values():
        assert row["param_energy_low"] <= row["param_energy_high"]
        assert row["seconds"] >= 0
        assert row["n_samples"] == metrics["distance_sample_sizes"]["particles"]
    assert rows["vae"]["iterations"] == 4 and rows["critic"]["iterations"] == 4
    return {m: r["needs_poses"] for m, r in rows.items()}


def test_nanocluster_methods_are_rows_and_none_needs_poses(tmp_path):
    nano = {"grid_size": 16, "n_observed": 60, "n_particles": 20, "iterations": 5,
            "baseline_states": 2, "baseline_iterations": 2, **BUDGET}  # fmt: skip
    poses = _check_rows(_fit(tmp_path, "nanocluster", nano),
                        ["energy", "dto", "critic", "generator", "vae"])  # fmt: skip
    assert not any(poses.values())  # no rotations in the nanocluster's images


def test_protein_methods_are_rows_and_only_the_vae_gets_poses(tmp_path):
    structure = tmp_path / "toy.pdb"
    structure.write_text(toy_pdb_text(n_residues=10))
    protein = {"grid_size": 16, "pixel_size_a": 4.0, "n_modes": 2, "n_observed": 40,
               "n_particles": 8, "batch_size": 8, "iterations": 2, "baseline_states": 2,
               "baseline_rotations": 2, "baseline_iterations": 1, "pca_images": 4,
               "methods": ["mmd", "critic", "generator", "vae"], **BUDGET}  # fmt: skip
    out = _fit(tmp_path, "protein", protein, "--structure", str(structure))
    expected = ["energy", "dto", "mmd", "critic", "generator", "vae"]
    assert _check_rows(out, expected) == {m: m == "vae" for m in expected}
    assert summary_main([str(out / "metrics.json"), "--outdir", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "methods.csv")
    assert list(table["method"]) == expected and set(table["experiment"]) == {"protein"}
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 2  # the existing table is unchanged
    assert read_json(tmp_path / "summary.json")["methods"] == table.to_dict("records")


def test_critic_as_the_main_loss_is_the_critic_methods_run(tmp_path):
    """``loss: critic`` makes the WGAN-GP particles the main run: its particles and distances
    are exactly the critic row of a run that compares the critic beside the energy flow (the
    streams of a method depend on (seed, method) alone); 1D has no critic."""
    nano = {"grid_size": 16, "n_observed": 60, "n_particles": 20, "iterations": 5,
            "baseline_states": 2, "baseline_iterations": 2, **BUDGET}  # fmt: skip
    beside = _fit(tmp_path / "beside", "nanocluster", {**nano, "methods": ["critic"]})
    main = _fit(tmp_path / "main", "nanocluster", {**nano, "loss": "critic", "methods": []})
    rows = {r["method"]: r for r in read_json(beside / "metrics.json")["methods"]}
    metrics = read_json(main / "metrics.json")
    assert metrics["loss"] == "critic" and [r["method"] for r in metrics["methods"]] == [
        "critic", "dto"]  # fmt: skip
    critic = rows["critic"]
    assert metrics["param_energy_distance_final"] == pytest.approx(
        critic["param_energy_distance"], rel=1e-9)  # fmt: skip
    assert metrics["iterations"] == critic["iterations"] == 4
    particles = pd.read_csv(main / "particles.csv")
    initial = pd.read_csv(main / "particles_initial.csv")
    assert not np.allclose(particles.to_numpy(), initial.to_numpy())  # the critic moved them
    with pytest.raises(ConfigError, match="loss must be one of"):
        settings_for("1d", {"loss": "critic"})
    settings_for("protein", {"loss": "generator"})
