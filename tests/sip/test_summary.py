"""The SIP summary table: its values are the metrics of the runs it reads."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from flowem.errors import InputFileError
from flowem.io import read_json, write_json
from flowem.sip.fit import main as fit_main
from flowem.sip.summary import main, run


def _fit(tmp_path, experiment, params):
    out = tmp_path / experiment
    argv = ["--experiment", experiment, "--outdir", str(out), "--params", json.dumps(params),
            "--seed", "1", "--no-progress", "--threads", "1"]  # fmt: skip
    assert fit_main(argv) == 0
    return out / "metrics.json"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sip")
    one_d = {"n_observed": 200, "n_particles": 200, "iterations": 20, "lr": 0.05,
             "w1_reference_size": 4000, "sweep_sigmas": [1.0], "sweep_max_iterations": 10,
             "sweep_check_every": 5, "baseline_iterations": 5, "kde_bins": 256}  # fmt: skip
    nano = {"grid_size": 16, "n_observed": 60, "n_particles": 20, "iterations": 10,
            "baseline_states": 2, "baseline_iterations": 3}  # fmt: skip
    return [_fit(tmp, "1d", one_d), _fit(tmp, "nanocluster", nano)]


def test_summary_rows_are_the_metrics_they_come_from(runs, tmp_path):
    assert main([*map(str, runs), "--outdir", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "summary.csv")
    doc = read_json(tmp_path / "summary.json")
    assert len(doc["rows"]) == len(table) == 4 and set(doc["definitions"]) >= {"W1"}
    one_d, nano = read_json(runs[0]), read_json(runs[1])
    for loss in ("energy", "kl"):
        row = table[(table.experiment == "1d") & (table.loss == loss)].iloc[0]
        assert row.initial == pytest.approx(one_d[loss]["w1_initial"], rel=1e-12)
        assert row.final == pytest.approx(one_d[loss]["w1_final"], rel=1e-12)
        assert row.baseline_final == pytest.approx(one_d["baseline"]["w1_final"], rel=1e-12)
        assert row.noise_floor_mean == pytest.approx(one_d["w1_noise_floor"]["mean"], rel=1e-12)
        assert (row.n_particles, row.n_reference) == (200, 4000)
    for space, key in (("parameter", "param"), ("image", "image")):
        row = table[(table.experiment == "nanocluster") & (table.space == space)].iloc[0]
        floor = nano["noise_floor"][f"{key}_energy_distance"]
        assert row.initial == pytest.approx(nano[f"{key}_energy_distance_initial"], rel=1e-12)
        assert row.final == pytest.approx(nano[f"{key}_energy_distance_final"], rel=1e-12)
        baseline = nano["baseline"][f"{key}_energy_distance_final"]
        assert row.baseline_final == pytest.approx(baseline, rel=1e-12)
        assert row.noise_floor_std == pytest.approx(floor["std"], rel=1e-12) and floor["std"] > 0
        assert floor["sizes"] == [20, 60] and (row.n_particles, row.n_reference) == (20, 60)
        expected = (row.initial - row.final) / row.noise_floor_std
        assert row.reduction_in_floor_std == pytest.approx(expected, rel=1e-12)


def test_summary_names_a_file_that_is_not_sip_metrics(runs, tmp_path):
    stray = tmp_path / "protein" / "metrics.json"
    write_json(stray, {"loss": "energy"})
    with pytest.raises(InputFileError, match="not a sip-fit metrics file"):
        run([str(runs[0]), str(stray)])
    with pytest.raises(InputFileError, match="not a SIP experiment"):
        run([str(tmp_path / "tomography" / "metrics.json")])
