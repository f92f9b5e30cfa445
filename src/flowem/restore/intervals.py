"""95 % intervals of the restoration table from per-crop scores.

Every row (method) of a task has one score per test crop. ``ci`` is the Student-t interval of
the mean over crops (:func:`flowem.metrics.statistics.summarize`). Crops of one slice are not
independent (same section, same staining, same noise level of the microscope), so
``ci_slices`` is the slice-clustered interval: the t-interval over the per-slice means (few
degrees of freedom, wider, the conservative one). Differences between methods are paired over
crops (:func:`~flowem.metrics.statistics.paired_difference`): ``paired`` holds the mean
difference ``method - reference`` with both intervals, which resolves far smaller gaps than two
separate intervals do because the crops' difficulty cancels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from flowem.metrics.statistics import paired_difference, summarize

INTERVAL_METRICS = ("psnr", "ssim")
CONFIDENCE = 0.95


def _pair(low: float, high: float) -> list[float] | None:
    return None if math.isnan(low) else [float(low), float(high)]


def slice_means(values: np.ndarray, slices: np.ndarray) -> np.ndarray:
    """The mean of ``values`` over the crops of each slice (slices in sorted order)."""
    frame = pd.DataFrame({"value": np.asarray(values, float), "slice": np.asarray(slices)})
    return frame.groupby("slice", sort=True)["value"].mean().to_numpy()


def mean_interval(values, slices) -> dict[str, float | list[float] | None]:
    """``{mean, ci, ci_slices}`` of per-crop ``values`` (``ci``: over crops, ``ci_slices``:
    over slice means; None where there are fewer than two)."""
    over_crops = summarize(values, CONFIDENCE)
    over_slices = summarize(slice_means(values, slices), CONFIDENCE)
    return {
        "mean": over_crops.mean,
        "ci": _pair(over_crops.ci_low, over_crops.ci_high),
        "ci_slices": _pair(over_slices.ci_low, over_slices.ci_high),
    }


def difference_interval(values, reference, slices) -> dict[str, float | list[float] | None]:
    """``{mean, ci, ci_slices}`` of ``values - reference``, paired over crops."""
    return mean_interval(paired_difference(values, reference, CONFIDENCE).values, slices)


def row_intervals(
    per_crop: pd.DataFrame, reference: str | None
) -> dict[str, dict[str, dict | str]]:
    """Intervals of each method of one task from its per-crop table (columns ``method``,
    ``crop``, ``slice`` and the :data:`INTERVAL_METRICS`): per method ``ci`` and ``ci_slices``
    (metric -> [low, high]) and, except for ``reference`` itself, ``paired`` (``reference`` and
    metric -> ``{mean, ci, ci_slices}`` of ``method - reference``). A method scored on fewer
    crops than the reference (a subset) is paired on the crops both have."""
    out: dict[str, dict] = {}
    by_method = {m: g.set_index("crop").sort_index() for m, g in per_crop.groupby("method")}
    for method, frame in by_method.items():
        stats = {k: mean_interval(frame[k], frame["slice"]) for k in INTERVAL_METRICS}
        row: dict = {
            "n": len(frame),
            "ci": {k: s["ci"] for k, s in stats.items()},
            "ci_slices": {k: s["ci_slices"] for k, s in stats.items()},
        }
        if reference is not None and method != reference and reference in by_method:
            ref = by_method[reference]
            common = frame.index.intersection(ref.index)
            row["paired"] = {"reference": reference} | {
                k: difference_interval(
                    frame.loc[common, k], ref.loc[common, k], frame.loc[common, "slice"]
                )
                for k in INTERVAL_METRICS
            }
        out[str(method)] = row
    return out


def flat_intervals(row: dict) -> dict[str, Any]:
    """One row of ``metrics.json`` as flat columns: scalars as they are, ``ci`` as
    ``<metric>_ci_low/high``, ``ci_slices`` as ``<metric>_ci_slices_low/high`` and ``paired``
    as ``paired_reference``, ``<metric>_diff`` and ``<metric>_diff_ci[_slices]_low/high``."""
    out: dict[str, Any] = {k: v for k, v in row.items() if not isinstance(v, dict)}

    def bounds(prefix: str, pair: list[float] | None) -> None:
        out[f"{prefix}_low"], out[f"{prefix}_high"] = pair if pair else (None, None)

    for kind in ("ci", "ci_slices"):
        for metric, pair in (row.get(kind) or {}).items():
            bounds(f"{metric}_{kind}", pair)
    paired = row.get("paired") or {}
    if paired:
        out["paired_reference"] = paired["reference"]
    for metric in INTERVAL_METRICS:
        if metric in paired:
            out[f"{metric}_diff"] = paired[metric]["mean"]
            bounds(f"{metric}_diff_ci", paired[metric]["ci"])
            bounds(f"{metric}_diff_ci_slices", paired[metric]["ci_slices"])
    return out
