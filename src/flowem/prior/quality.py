"""Prior quality: energy distance between generated and held-out images, against a noise floor.

Energy distance (:mod:`flowem.metrics.energy`, V-statistic, the squared form
``2E|X-Y| - E|X-X'| - E|Y-Y'|`` of SPEC section 7) with Euclidean norms of flattened images,
from one matrix of distances per pair of sets. Its estimate from finite sets is biased upwards by
about ``E|X-X'| / m`` for sets of m items, so a raw value says little; we compare it with the
same statistic between two halves of the held-out set at the same set size (the noise floor).
A perfect prior has ``energy_distance_ratio`` near 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from flowem.metrics.energy import energy_from_sums
from flowem.runtime import rng

SPLIT_STREAM = 404


def pairwise_distances(a: np.ndarray, b: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Euclidean distances (float64) between the flattened items of ``a`` and of ``b``."""
    a_t = torch.as_tensor(np.asarray(a).reshape(len(a), -1), dtype=torch.float64)
    b_t = torch.as_tensor(np.asarray(b).reshape(len(b), -1), dtype=torch.float64)
    rows = [torch.cdist(a_t[i : i + chunk], b_t) for i in range(0, len(a_t), chunk)]
    return torch.cat(rows).numpy()


def radial_power_spectrum(images: np.ndarray) -> np.ndarray:
    """log10 of the rotationally averaged power per integer-radius ring, (N, size // 2 + 1)."""
    images = np.asarray(images, dtype=np.float64)
    _, h, w = images.shape
    power = np.abs(np.fft.fftshift(np.fft.fft2(images), axes=(1, 2))) ** 2
    yy, xx = np.indices((h, w))
    radius = np.rint(np.hypot(yy - h // 2, xx - w // 2)).astype(int)
    rings = min(h, w) // 2 + 1
    inside = radius < rings
    counts = np.bincount(radius[inside], minlength=rings)
    sums = np.stack([np.bincount(radius[inside], p[inside], minlength=rings) for p in power])
    return np.log10(sums / counts + np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class DistanceRatio:
    """Energy distances at equal set size, averaged over random half splits, and their ratio."""

    generated_vs_heldout: float  # mean over splits of D(generated, half A) and D(generated, half B)
    heldout_half_vs_half: float  # mean over splits of D(half A, half B): the noise floor
    energy_distance_ratio: float
    set_size: int
    splits: int


def energy_distance_ratio(
    generated: np.ndarray, heldout: np.ndarray, seed: int, splits: int = 16
) -> DistanceRatio:
    """Compare ``set_size`` generated items with random half splits of ``heldout``.

    One split's floor varies by tens of percent; averaging over ``splits`` random splits (from
    one matrix of distances) makes the ratio reproducible to a few percent.
    """
    size = min(len(generated), len(heldout) // 2)
    if size < 2:
        raise ValueError(
            f"need >= 2 generated and >= 4 held-out items, got {len(generated)}, {len(heldout)}"
        )
    gen = generated[:size]
    d_hh = pairwise_distances(heldout, heldout)
    d_gh = pairwise_distances(gen, heldout)
    within_gen = pairwise_distances(gen, gen).sum()
    gen_total = floor_total = 0.0
    for split in range(splits):
        order = rng(seed, SPLIT_STREAM, split).permutation(len(heldout))
        a, b = order[:size], order[size : 2 * size]
        within_a, within_b = d_hh[np.ix_(a, a)].sum(), d_hh[np.ix_(b, b)].sum()
        floor_total += energy_from_sums(d_hh[np.ix_(a, b)].sum(), within_a, within_b, size, size)
        gen_a = energy_from_sums(d_gh[:, a].sum(), within_gen, within_a, size, size)
        gen_b = energy_from_sums(d_gh[:, b].sum(), within_gen, within_b, size, size)
        gen_total += 0.5 * (gen_a + gen_b)
    dist, floor = gen_total / splits, floor_total / splits
    return DistanceRatio(float(dist), float(floor), float(dist / floor), size, splits)


def prior_quality(generated: np.ndarray, heldout: np.ndarray, seed: int) -> dict[str, object]:
    """Metrics on images and on their radially averaged log power spectra."""
    images = energy_distance_ratio(generated, heldout, seed)
    spectra = energy_distance_ratio(
        radial_power_spectrum(generated), radial_power_spectrum(heldout), seed
    )
    return {
        "energy_distance_ratio": images.energy_distance_ratio,
        "power_spectrum_energy_distance_ratio": spectra.energy_distance_ratio,
        "images": asdict(images),
        "power_spectra": asdict(spectra),
    }
