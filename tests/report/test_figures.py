"""Shared figures: labelled axes with units, atomic saves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from flowem.metrics import fourier_correlation
from flowem.report.figures import plot_frc_curves, plot_metric_spread, save_figure


def test_frc_figure_has_units_and_thresholds(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(32, 32))
    freq, curve, counts = fourier_correlation(a, a, 2.0)
    fig = plot_frc_curves(
        {"x": (freq, curve)}, unit="Å", counts=counts, thresholds=("0.5", "half-bit")
    )
    ax = fig.axes[0]
    assert ax.get_xlabel() == "spatial frequency (1/Å)"
    labels = [line.get_label() for line in ax.get_lines()]
    assert {"x", "threshold 0.5", "threshold half-bit"} <= set(labels)
    assert "resolution (Å)" in {a.get_xlabel() for a in fig.axes}
    path = save_figure(fig, tmp_path / "frc.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert not plt.fignum_exists(fig.number)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frc.png"]


def test_failed_save_leaves_nothing(tmp_path):
    fig = plot_metric_spread({"a": [1.0, 2.0]}, "PSNR", "dB")
    assert fig.axes[0].get_ylabel() == "PSNR (dB)"
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "spread.unknownformat")
    assert list(tmp_path.iterdir()) == []
