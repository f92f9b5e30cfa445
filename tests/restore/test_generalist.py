"""The per-data-set evaluation of a corpus prior and its table (a tiny synthetic corpus, an
untrained tiny prior)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.restore.test_run import tiny_model  # noqa: F401 (a fixture: a tiny untrained prior)

from flowem.metrics import NiqeModel
from flowem.restore import generalist
from flowem.restore.baselines import BASELINES
from flowem.restore.corpus import CorpusSet, CorpusSettings, SetSpec
from flowem.restore.generalist_table import merge
from flowem.restore.settings import RestoreSettings


def synthetic_set(name: str, count: int, shape, seed: int, **spec) -> CorpusSet:
    """Smooth normalised sections (what load_set gives): blurred noise at ~0.3 spread."""
    from scipy import ndimage

    gen = np.random.default_rng(seed)
    sections = [
        (1.5 * ndimage.gaussian_filter(gen.standard_normal(shape), 2.0)).astype(np.float32)
        for _ in range(count)
    ]
    return CorpusSet(name, SetSpec(files=["x"], **spec), sections, [], [10.0] * count, [])


def corpus() -> list[CorpusSet]:
    return [
        synthetic_set("tem", 4, (32, 40), 0, train=[0], val=[1], test=[2, 3]),
        synthetic_set("sem", 3, (36, 32), 1, train=[0], val=[1], test=[2]),
        # no clean reference: a noisy image, scored without reference
        synthetic_set("noisy", 1, (192, 96), 2, test=[0], reference=False),
    ]


def settings() -> tuple[CorpusSettings, RestoreSettings]:
    corpus_settings = CorpusSettings(tasks=["denoise"], crop=16, crop_grid=2, no_reference_crop=0)
    restore = RestoreSettings(samplers=["dc"], tune={}, sampler={"method": "dc", "steps": 2})
    return corpus_settings, restore


def test_generalist_table_has_the_issue_layout(tiny_model):  # noqa: F811 (the fixture)
    corpus_settings, restore = settings()
    natural = NiqeModel(np.zeros(36), np.eye(36))
    sets = corpus()
    inside = generalist.run(corpus_settings, restore, sets, tiny_model, 0, "in_domain", natural)
    left_out = generalist.run(
        corpus_settings, restore, sets[:1], tiny_model, 1, "leave_one_out", natural
    )
    table = merge([inside, left_out])
    assert set(table["datasets"]) == {"tem", "sem", "noisy"}
    assert set(table["datasets"]["tem"]) == {"in_domain", "leave_one_out"}
    assert set(table["datasets"]["sem"]) == {"in_domain"}
    rows = table["datasets"]["tem"]["in_domain"]["denoise"]
    assert set(rows) == {"flow_dc", *BASELINES["denoise"]}
    assert table["flow_row"]["tem"]["in_domain"]["denoise"] == "flow_dc"
    for row in rows.values():
        assert row["n"] == 2 * 4  # 2 test sections x 2 x 2 crops
        for metric in ("psnr", "ssim"):
            low, high = row["ci"][metric]
            assert low <= row[metric] <= high
    assert table["datasets"]["sem"]["in_domain"]["denoise"]["tv"]["n"] == 4
    # without reference: NIQE and decorrelation resolution, no PSNR; the input is a row too
    noisy = table["datasets"]["noisy"]["in_domain"]["denoise"]
    assert set(noisy) == {"input", "flow_dc", *BASELINES["denoise"]}
    for row in noisy.values():
        assert row["psnr"] is None and row["ci"] is None
        assert np.isfinite(row["niqe"])
    # the summary: flow against the best classical row, and the leave-one-out drop
    summary = table["summary"]["tem"]
    best = max(BASELINES["denoise"], key=lambda m: rows[m]["psnr"])
    assert summary["in_domain"]["denoise"]["best_classical"] == best
    gap = rows["flow_dc"]["psnr"] - rows[best]["psnr"]
    assert summary["in_domain"]["denoise"]["flow_minus_classical_db"] == pytest.approx(gap)
    loo = table["datasets"]["tem"]["leave_one_out"]["denoise"]["flow_dc"]["psnr"]
    drop = rows["flow_dc"]["psnr"] - loo
    assert summary["leave_one_out"]["denoise"]["loo_drop_db"] == pytest.approx(drop)
    assert "noisy" not in table["summary"] or not table["summary"]["noisy"]


def test_section_crops_number_crops_and_name_their_sections():
    sections = [np.full((20, 30), i, np.float32) for i in range(3)]
    crops = generalist.section_crops(sections, [2, 0], 8, 2)
    assert list(crops.table["crop"]) == list(range(8))
    assert list(crops.table["slice"]) == [2] * 4 + [0] * 4
    assert np.all(crops.images[:4] == 2) and np.all(crops.images[4:] == 0)
