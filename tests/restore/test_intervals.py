"""Intervals of the restoration table: over crops, over slices, paired differences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from flowem.restore.intervals import flat_intervals, mean_interval, row_intervals


def test_interval_over_crops_and_over_slice_means_have_the_t_values():
    values = np.array([1.0, 2.0, 3.0, 6.0])
    slices = np.array([24, 24, 25, 25])
    out = mean_interval(values, slices)
    half = stats.t.ppf(0.975, 3) * values.std(ddof=1) / 2
    assert out["mean"] == pytest.approx(3.0)
    assert out["ci"] == pytest.approx([3.0 - half, 3.0 + half])
    # slice means 1.5 and 4.5: mean 3, std 3 / sqrt(2) * sqrt(2) = 2.1213, n = 2, t(0.975, 1)
    half_slices = stats.t.ppf(0.975, 1) * np.std([1.5, 4.5], ddof=1) / np.sqrt(2)
    assert out["ci_slices"] == pytest.approx([3.0 - half_slices, 3.0 + half_slices])
    assert half_slices > half  # two clusters: the conservative interval is wider
    assert mean_interval([2.0, 3.0], [24, 24])["ci_slices"] is None  # one slice: no interval


def per_crop_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    difficulty = rng.normal(25, 3, 40)  # crops vary a lot, methods vary together
    slices = np.repeat([24, 25, 26, 27], 10)
    rows = []
    for method, offset in (("flow_dc", 0.0), ("flow_si", -0.1), ("tv", -2.0)):
        jitter = rng.normal(0, 0.05, 40)
        for crop in range(40):
            psnr = difficulty[crop] + offset + jitter[crop]
            rows.append(
                {"method": method, "crop": crop, "slice": slices[crop], "psnr": psnr, "ssim": 0.5}
            )
    return pd.DataFrame(rows)


def test_paired_differences_resolve_what_separate_intervals_cannot():
    rows = row_intervals(per_crop_table(), reference="flow_dc")
    assert set(rows) == {"flow_dc", "flow_si", "tv"} and "paired" not in rows["flow_dc"]
    dc, si = rows["flow_dc"]["ci"]["psnr"], rows["flow_si"]["ci"]["psnr"]
    assert si[1] > dc[0]  # the 0.1 dB gap hides in the spread over crops...
    paired = rows["flow_si"]["paired"]
    assert paired["reference"] == "flow_dc"
    assert paired["psnr"]["mean"] == pytest.approx(-0.1, abs=0.03)
    assert paired["psnr"]["ci"][1] < 0  # ...but the paired interval excludes zero
    assert rows["tv"]["paired"]["psnr"]["ci"][1] < -1.9
    assert paired["ssim"]["mean"] == 0.0 and paired["ssim"]["ci"] == [0.0, 0.0]
    assert rows["tv"]["n"] == 40


def test_flat_columns_carry_every_interval():
    rows = row_intervals(per_crop_table(), reference="flow_dc")
    flat = flat_intervals({"psnr": 25.0, **rows["flow_si"]})
    assert flat["psnr"] == 25.0 and flat["paired_reference"] == "flow_dc"
    assert flat["psnr_ci_low"] == rows["flow_si"]["ci"]["psnr"][0]
    assert flat["psnr_ci_slices_high"] == rows["flow_si"]["ci_slices"]["psnr"][1]
    assert flat["psnr_diff"] == rows["flow_si"]["paired"]["psnr"]["mean"]
    assert flat["psnr_diff_ci_high"] == rows["flow_si"]["paired"]["psnr"]["ci"][1]
    assert "psnr_diff" not in flat_intervals(rows["flow_dc"])
