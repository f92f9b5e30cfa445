"""The run's answers: every sentence and verdict is computed from the numbers, so changing a
number changes the sentence (and, across a target, the verdict); absent or old-shaped inputs
give an ``unknown`` finding with a note instead of an error."""

from __future__ import annotations

import copy

import pytest
from tests.report.results_tree import flowdps_metrics, restore_metrics

from flowem.report import findings as F
from flowem.sip.summary import rows_1d, rows_images

PSNR = {"flowdps": 24.1, "ctf": 19.3, "poisson_tv": 21.0}


def test_flowdps_verdict_follows_the_paired_interval():
    held = F.flowdps_headline(flowdps_metrics(PSNR))
    assert held.verdict == F.HELD and "24.10 dB" in held.sentence
    assert "poisson_tv (21.00 dB)" in held.sentence  # the strongest baseline is named
    assert "above 0 against 2 of 2 baselines" in held.sentence
    # a baseline catches up: the paired interval of the difference now reaches below 0
    closer = F.flowdps_headline(flowdps_metrics({**PSNR, "poisson_tv": 23.9}))
    assert closer.verdict == F.NOT_HELD
    assert closer.sentence != held.sentence and "above 0 against 1 of 2" in closer.sentence
    assert list(held.table["method"]) == list(PSNR)
    assert held.table.loc[0, "PSNR (dB)"] == "24.10 [23.80, 24.40]"
    assert list(held.table["evaluations"]) == ["360", "1", "360"]  # the budgets


def test_calibration_verdict_follows_coverage():
    held = F.flowdps_calibration(flowdps_metrics(PSNR, coverage_90=0.9))
    low = F.flowdps_calibration(flowdps_metrics(PSNR, coverage_90=0.73))
    assert held.verdict == F.HELD and "90.0%" in held.sentence
    assert low.verdict == F.NOT_HELD and "73.0%" in low.sentence
    assert held.panels[0].diagonal and held.panels[0].kind == "line"


def test_dose_verdict_needs_the_lead_at_every_dose():
    doc = {"doses": [10, 40], "methods": {"flowdps": {"psnr": [20, 24]}, "ctf": {"psnr": [15, 19]}}}
    held = F.flowdps_dose(doc)
    doc["methods"]["ctf"]["psnr"][0] = 21
    lost = F.flowdps_dose(doc)
    assert held.verdict == F.HELD and lost.verdict == F.NOT_HELD
    assert "2 of 2 doses" in held.sentence and "1 of 2 doses" in lost.sentence


def test_mismatch_sentence_reports_the_drop():
    test = flowdps_metrics(PSNR)
    mismatch = flowdps_metrics({"flowdps": 22.0, "ctf": 19.0, "poisson_tv": 20.5})
    held = F.flowdps_mismatch(test, mismatch)
    assert held.verdict == F.HELD and "change of -2.10 dB" in held.sentence
    worse = F.flowdps_mismatch(test, flowdps_metrics({**PSNR, "flowdps": 21.2}, diff_low=-1))
    assert worse.verdict == F.NOT_HELD and "change of -2.90 dB" in worse.sentence


@pytest.mark.parametrize(
    ("change", "verdict"),
    [
        ({}, F.HELD),
        ({"supervised": 31.0}, F.NOT_HELD),  # flow 0.5 dB behind supervised
        ({"classical": 30.6}, F.NOT_HELD),  # a classical baseline ahead
    ],
)
def test_restoration_verdict_follows_the_margins(change, verdict):
    finding = F.restoration(restore_metrics(**change))
    assert finding.verdict == verdict
    assert finding.sentence != F.restoration(restore_metrics(flow=29.0, classical=20)).sentence
    assert set(finding.table["flow row"]) == {"flow_dc"}
    assert finding.table.loc[0, "flow_dc"] == "30.50 [30.30, 30.70]"


def test_restoration_judges_the_flow_row_the_run_chose_on_validation():
    doc = restore_metrics()
    assert F.restoration(doc).verdict == F.HELD
    doc["flow_row"] = {"denoise": "flow_si", "sr4": "flow_dc"}  # flow_si: 0.5 dB lower
    chosen = F.restoration(doc)
    assert chosen.verdict == F.NOT_HELD and "falls short on denoise" in chosen.sentence
    assert list(chosen.table["flow row"]) == ["flow_si", "flow_dc"]


def test_restoration_without_supervised_is_unknown_not_held():
    doc = restore_metrics()
    for methods in doc["tasks"].values():
        del methods["supervised"]
    finding = F.restoration(doc)
    assert finding.verdict == F.UNKNOWN and "no supervised result" in finding.sentence


def test_speed_verdict_needs_tenfold_at_half_a_db():
    assert F.restoration_speed(restore_metrics(speedup=25)).verdict == F.HELD
    slow = F.restoration_speed(restore_metrics(speedup=6))
    assert slow.verdict == F.NOT_HELD and "6.0x faster" in slow.sentence


def test_speed_against_the_flow_network_stand_in_is_labelled_and_not_a_verdict():
    doc = restore_metrics(speedup=25)
    doc["speed"]["diffusion_arm"] = "flow_network"
    finding = F.restoration_speed(doc)
    assert finding.verdict == F.UNKNOWN and "no diffusion prior" in finding.sentence
    assert "DPS through the flow network" in list(finding.table["method"])
    doc["speed"]["diffusion_arm"] = "diffusion_prior"
    assert F.restoration_speed(doc).verdict == F.HELD


def test_sip_verdict_from_metrics_and_from_a_summary():
    experiments = {
        "1d": {"energy": {"w1_initial": 1.2, "w1_final": 0.18}},
        "nanocluster": {
            "param_energy_distance_initial": 2.5,
            "param_energy_distance_final": 0.01,
        },
    }
    held = F.sip(experiments)
    assert held.verdict == F.HELD and "1d W1 (energy loss) 1.200 → 0.180" in held.sentence
    missed = copy.deepcopy(experiments)
    missed["1d"]["energy"]["w1_final"] = 0.25  # above the paper's W1 < 0.2
    assert F.sip(missed).verdict == F.NOT_HELD


def protein_metrics(final: float) -> dict:
    """A protein run's metrics.json as ``sip-fit`` writes it (what sip/summary.json reads)."""
    floor = {"mean": 0.0, "std": 0.01}
    return {
        "loss": "energy",
        "distance_sample_sizes": {"particles": 64, "true_law": 300},
        "noise_floor": {"param_energy_distance": floor, "image_energy_distance": floor},
        "param_energy_distance_initial": 3.0,
        "param_energy_distance_final": final,
        "image_energy_distance_initial": 1.0,
        "image_energy_distance_final": 0.001,
        "baseline": {"param_energy_distance_final": 0.5, "image_energy_distance_final": 0.01},
        "iterations": 300,
        "seconds": 12.0,
    }


def test_sip_verdict_from_the_summary_table():
    rows = rows_images("protein", protein_metrics(final=0.2))
    above_noise = F.sip({}, {"definitions": {}, "rows": rows})
    assert above_noise.verdict == F.NOT_HELD  # 0.2 is 20 floor stds above the floor
    assert "protein parameter energy distance (energy loss) 3.000 → 0.200" in above_noise.sentence
    within = F.sip({}, {"rows": rows_images("protein", protein_metrics(final=0.015))})
    assert within.verdict == F.HELD and "3.000 → 0.015" in within.sentence
    one_d = {
        "energy": {"w1_initial": 1.2, "w1_final": 0.25, "iterations": 10, "seconds": 1.0},
        "baseline": {"w1_final": 0.4},
        "w1_noise_floor": {"mean": 0.01, "std": 0.5},
        "distance_sample_sizes": {"particles": 100, "w1_reference": 1000},
    }
    w1 = F.sip({}, {"rows": rows_1d(one_d)})
    assert w1.verdict == F.NOT_HELD and "1d W1 (energy loss) 1.200 → 0.250" in w1.sentence
    assert w1.table["paper"].iloc[0] == 0.2  # the paper's 1D target beside the W1 row
    assert F.sip({"protein": {"param_energy_distance_initial": 3.0}}).verdict == F.UNKNOWN


def test_sip_method_comparison_is_computed_from_the_summary():
    rows = rows_images("protein", protein_metrics(final=0.015))
    methods = [
        {"experiment": "nanocluster", "method": "energy", "needs_poses": False,
         "param_energy_distance": 0.02, "param_energy_low": -0.01, "param_energy_high": 0.05},
        {"experiment": "nanocluster", "method": "vae", "needs_poses": True,
         "param_energy_distance": 0.3, "param_energy_low": 0.2, "param_energy_high": 0.4},
    ]  # fmt: skip
    found = F.sip({}, {"rows": rows, "methods": methods})
    assert "energy 0.020 [-0.010, 0.050], vae 0.300 [0.200, 0.400] (given poses)" in found.sentence
    assert "closest: energy" in found.sentence
    panel = found.panels[-1]
    assert panel.x == ["energy", "vae"] and panel.low == [-0.01, 0.2]
    assert panel.highlight == "energy"
    methods[1]["param_energy_distance"] = 0.001  # the VAE now closest: the sentence follows
    again = F.sip({}, {"rows": rows, "methods": methods})
    assert "vae 0.001" in again.sentence and "closest: vae" in again.sentence
    assert again.verdict == found.verdict  # the verdict judges the flow alone
    assert "Every method" not in F.sip({}, {"rows": rows}).sentence  # no comparison, no text


def test_prior_verdict_follows_the_ratio():
    good = F.prior_quality({"phase": {"energy_distance_ratio": 1.8}, "em": None})
    bad = F.prior_quality({"phase": {"energy_distance_ratio": 4.2}})
    assert good.verdict == F.HELD and "1.80x" in good.sentence
    assert bad.verdict == F.NOT_HELD and "4.20x" in bad.sentence


def test_real_particles_are_shown_not_judged():
    doc = {"methods": {"flowdps": {"deviance": 1.02, "decorrelation_A": 21.0}}, "n_particles": 8}
    finding = F.real_particles(doc, "empiar_10076")
    assert finding.verdict == F.UNKNOWN and "1.020 per pixel" in finding.sentence


@pytest.mark.parametrize(
    "function",
    [
        F.flowdps_headline,
        F.flowdps_calibration,
        F.flowdps_dose,
        F.restoration,
        F.restoration_speed,
        F.prior_quality,
        F.real_particles,
    ],
)
@pytest.mark.parametrize("doc", [None, {}, {"methods": {"flowdps": {"psnr_db": 24.1}}}])
def test_absent_or_old_inputs_give_an_unknown_finding(function, doc):
    finding = function(doc)
    assert finding.verdict == F.UNKNOWN and finding.note and finding.table is None


def test_old_restoration_shape_is_skipped():
    old = {"denoise": {"psnr_db": 30.5, "niqe": 4.2}}  # before tasks[task][method]
    assert F.restoration(old).verdict == F.UNKNOWN


def test_intervals_are_read_in_either_shape():
    assert F.interval([1, 2]) == (1.0, 2.0)
    assert F.interval({"low": 1, "high": 2}) == (1.0, 2.0)
    assert F.interval({"ci_low": 1, "ci_high": 2}) == (1.0, 2.0)
    lo, hi = F.interval("nonsense")
    assert lo != lo and hi != hi  # NaN


def test_gather_on_a_results_tree_puts_flowdps_first(tree):
    found = F.gather(tree["results"])
    assert found[0].key == "flowdps" and found[0].verdict == F.HELD
    verdicts = {f.key: f.verdict for f in found}
    assert verdicts["real"] == F.UNKNOWN and verdicts["restoration"] == F.HELD
    assert [p.name for p in found[0].figures] == ["reconstructions.png", "frc.png"]
    assert {p.name for p in next(f for f in found if f.key == "prior").figures} == {"samples.png"}
