"""Image-quality metrics of every stage: numpy in, floats (or curves) out, one image at a time.

Full reference: :func:`psnr`, :func:`ssim` (explicit ``data_range``), :func:`frc` /
:func:`fsc` and their resolutions. No reference: :func:`niqe`, :func:`decorrelation_resolution`.
Aggregation over images: :func:`summarize`, :func:`paired_difference`, :func:`win_rate`,
:func:`wilson_interval`, :func:`bootstrap_interval`.
Paired real data: :func:`register_translation` / :func:`register_optical_flow` first.
Between two sets of samples (torch, differentiable): :func:`energy_distance` (V- or U-statistic).
"""

from flowem.metrics.decorrelation import (
    Decorrelation,
    decorrelation_analysis,
    decorrelation_resolution,
)
from flowem.metrics.energy import energy_distance, energy_from_sums
from flowem.metrics.fidelity import (
    batch_psnr,
    batch_ssim,
    per_image,
    psnr,
    reference_range,
    ssim,
)
from flowem.metrics.fourier_shells import (
    THRESHOLDS,
    curve_resolution,
    fourier_correlation,
    frc,
    frc_resolution,
    fsc,
    fsc_resolution,
    resolutions,
    threshold_curve,
)
from flowem.metrics.niqe import (
    NiqeModel,
    fit_niqe_model,
    natural_model,
    niqe,
    read_niqe_model,
    write_niqe_model,
)
from flowem.metrics.registration import (
    Registration,
    align,
    register_optical_flow,
    register_translation,
)
from flowem.metrics.statistics import (
    Summary,
    WinRate,
    bootstrap_interval,
    paired_difference,
    summarize,
    wilson_interval,
    win_rate,
)

__all__ = [
    "THRESHOLDS",
    "Decorrelation",
    "NiqeModel",
    "Registration",
    "Summary",
    "WinRate",
    "align",
    "batch_psnr",
    "batch_ssim",
    "bootstrap_interval",
    "curve_resolution",
    "decorrelation_analysis",
    "decorrelation_resolution",
    "energy_distance",
    "energy_from_sums",
    "fit_niqe_model",
    "fourier_correlation",
    "frc",
    "frc_resolution",
    "fsc",
    "fsc_resolution",
    "natural_model",
    "niqe",
    "paired_difference",
    "per_image",
    "psnr",
    "read_niqe_model",
    "reference_range",
    "register_optical_flow",
    "register_translation",
    "resolutions",
    "ssim",
    "summarize",
    "threshold_curve",
    "wilson_interval",
    "win_rate",
    "write_niqe_model",
]
