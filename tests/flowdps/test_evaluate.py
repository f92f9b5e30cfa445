"""evaluate-flowdps statistics: paired comparisons with known answers, mean-FRC resolutions
of a band-limited pair in angstrom with their bootstrap interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from flowem.flowdps.evaluate import (
    METRICS,
    comparison_table,
    mean_curve_resolutions,
    summarise,
)
from flowem.metrics import frc


def per_particle_frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """FlowDPS 1 dB better than wiener on every particle, 0.02 SSIM and 3 A of FRC better;
    the last wiener particle failed."""
    gen = np.random.default_rng(seed)
    base = {m: gen.normal(10.0, 2.0, n) for m in METRICS}
    rows = []
    for method, shift in (("flowdps", 1.0), ("wiener", 0.0)):
        frame = pd.DataFrame({"method": method, "index": np.arange(n), "status": "ok"})
        frame["psnr"] = base["psnr"] + shift
        frame["ssim"] = base["ssim"] + 0.02 * shift
        frame["frc05_A"] = base["frc05_A"] + 20 - 3 * shift  # angstrom: lower is better
        frame["frc0143_A"] = base["frc0143_A"] + 15 - 3 * shift
        frame["deviance"] = base["deviance"] - 0.1 * shift
        rows.append(frame)
    frame = pd.concat(rows, ignore_index=True)
    last = frame.index[(frame.method == "wiener") & (frame["index"] == n - 1)]
    frame.loc[last, ["psnr", "ssim", "frc05_A", "frc0143_A"]] = np.nan
    frame.loc[last, "status"] = "failed"
    return frame


def test_paired_comparison_finds_the_known_differences_and_wilson_bounds():
    n = 40
    metrics = summarise(per_particle_frame(n))
    paired = metrics["paired"]["wiener"]
    expected = {"psnr": 1.0, "ssim": 0.02, "frc05_A": -3.0, "frc0143_A": -3.0, "deviance": -0.1}
    z2 = stats.norm.ppf(0.975) ** 2
    for metric, difference in expected.items():
        row = paired[metric]
        assert row["mean_difference"] == pytest.approx(difference, abs=1e-9)
        assert row["ci_low"] - 1e-9 <= difference <= row["ci_high"] + 1e-9
        assert row["wins"] == n and row["n"] == n  # the failed particle loses too
        assert row["wilson_low"] == pytest.approx(n / (n + z2))
        assert metrics["win_rate_wilson_low"]["wiener"][metric] == row["wilson_low"]
    assert paired["psnr"]["n_paired"] == paired["deviance"]["n_paired"] == n - 1
    legacy = metrics["win_rate"]["wiener"]  # read by the dose curve
    assert (legacy["k"], legacy["n"], legacy["ci_low"]) == (n, n, paired["psnr"]["wilson_low"])
    table = comparison_table(metrics["paired"])
    assert len(table) == len(METRICS) and set(table.baseline) == {"wiener"}


def test_paired_comparison_counts_losses_against_the_reference():
    frame = per_particle_frame(30)
    flow = frame.method == "flowdps"
    frame.loc[flow, "psnr"] -= 2.0  # now FlowDPS is 1 dB worse everywhere
    row = summarise(frame)["paired"]["wiener"]["psnr"]
    assert row["wins"] == 1  # only the particle on which wiener failed
    assert row["mean_difference"] == pytest.approx(-1.0)
    assert row["wilson_high"] < 0.5


def band_limited_pair(n: int, ring: int, gen: np.random.Generator):
    """A white image and an estimate equal to it up to FRC ring ``ring`` (inclusive) and
    independent noise above: FRC exactly 1 inside, about 0 outside."""
    truth = gen.normal(size=(n, n))
    f = np.fft.fftfreq(n)
    inside = np.rint(np.hypot(*np.meshgrid(f, f, indexing="ij")) * n) <= ring
    spectrum = np.where(inside, np.fft.fft2(truth), np.fft.fft2(gen.normal(size=(n, n))))
    return truth, np.fft.ifft2(spectrum).real


def test_mean_frc_resolution_of_a_band_limited_pair_in_angstrom():
    n, ring, pixel = 64, 8, 5.24  # the band edge: n * pixel / ring = 41.9 A
    gen = np.random.default_rng(0)
    curves = [frc(*band_limited_pair(n, ring, gen), pixel) for _ in range(24)]
    out = mean_curve_resolutions(curves, pixel, np.random.default_rng(1), resamples=200)
    edge, next_ring = n * pixel / ring, n * pixel / (ring + 1)
    # the mean curve falls from 1 at ring 8 to ~0 at ring 9: 0.5 is crossed half way
    assert out["frc05_A"] == pytest.approx(n * pixel / (ring + 0.5), rel=0.02)
    for key in ("frc05_A", "frc0143_A"):
        assert next_ring <= out[f"{key}_ci_low"] <= out[key] <= out[f"{key}_ci_high"] <= edge
    assert out["frc0143_A"] < out["frc05_A"] and out["n"] == 24


def gaussian_posterior(samples: int, std_factor: float, n: int = 60, size: int = 24, seed=0):
    """Truth and ``samples`` draws per pixel from the same Gaussian (mean varies by pixel);
    the summaries the flowdps stage writes (mean, unbiased std times ``std_factor``)."""
    gen = np.random.default_rng(seed)
    centre = gen.normal(0.0, 1.0, (n, size, size))
    scale = np.exp(gen.normal(0.0, 0.3, (n, size, size)))
    truth = centre + scale * gen.standard_normal((n, size, size))
    draws = centre + scale * gen.standard_normal((samples, n, size, size))
    return truth, draws.mean(axis=0), std_factor * draws.std(axis=0, ddof=1)


def test_coverage_of_samples_from_the_truths_gaussian_is_nominal():
    from flowem.flowdps.evaluate import calibration

    for samples in (2, 4, 10):
        truth, mean, std = gaussian_posterior(samples, 1.0)
        out = calibration(truth, mean, std, samples)
        # 34,560 pixels: the binomial standard error at 0.9 is 0.0016
        assert abs(out["coverage_90"] - 0.90) < 0.01
        low, high = out["coverage_90_ci"]
        assert low < 0.90 < high
        for row in out["coverage"]["levels"]:
            assert abs(row["empirical"] - row["nominal"]) < 0.015
        assert {"pixel_correlation", "particle_correlation"} <= set(out)


def test_halved_std_gives_the_analytic_under_coverage():
    from flowem.flowdps.evaluate import calibration

    samples = 4
    truth, mean, std = gaussian_posterior(samples, 0.5)
    out = calibration(truth, mean, std, samples)
    q = stats.t.ppf(0.95, samples - 1)
    expected = 2 * stats.t.cdf(q / 2, samples - 1) - 1  # (z - m) / (s sqrt(1 + 1/n)) ~ t_3
    assert abs(expected - 0.6755) < 1e-3
    assert abs(out["coverage_90"] - expected) < 0.01
    # the naive mean +- 1.645 std (no t, no sqrt(1 + 1/n)) would under-cover even the right std
    truth, mean, std = gaussian_posterior(samples, 1.0)
    naive = np.mean(np.abs(mean - truth) <= 1.645 * std)
    assert naive < 0.8


def test_coverage_ignores_a_constant_offset_and_needs_two_samples():
    from flowem.flowdps.evaluate import calibration, predictive_half_width

    truth, mean, std = gaussian_posterior(4, 1.0, n=20)
    shifted = calibration(truth, mean + 3.0, std, 4)  # the offset the scoring removes
    assert abs(shifted["coverage_90"] - calibration(truth, mean, std, 4)["coverage_90"]) < 0.02
    assert "coverage_90" not in calibration(truth, mean, std, None)
    with pytest.raises(ValueError, match="2 samples"):
        predictive_half_width(std, 1, 0.9)


def test_reliability_figure_is_written(tmp_path):
    from flowem.flowdps.evaluate import calibration
    from flowem.flowdps.figures import plot_reliability

    truth, mean, std = gaussian_posterior(4, 1.0, n=10)
    cover = calibration(truth, mean, std, 4)["coverage"]
    path = plot_reliability(tmp_path / "reliability.png", cover)
    assert path.exists() and path.stat().st_size > 1000
