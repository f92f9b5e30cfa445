"""Bootstrap intervals of the unbiased squared energy distance in parameter space.

Both sets are resampled (multinomial counts ``w``, ``v``); each replicate is the U-statistic
of the resampled sets with the pairs of copies of one original point left out:
``2 w'D_xy v / (n m) - w'D_xx w / (n^2 - |w|^2) - v'D_yy v / (m^2 - |v|^2)`` (``D`` the
pairwise distances, zero on the diagonal), so a replicate of two samples of one law scores 0
on average like the estimate itself. The reference's resamples are drawn once and shared by
every compared set (a paired bootstrap: methods are compared on the same resamples).
"""

from __future__ import annotations

import numpy as np
import torch


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _self_term(d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    n = w.sum(1)
    return ((w @ d) * w).sum(1) / (n**2 - w.pow(2).sum(1))


class EnergyBootstrap:
    """``interval(x)``: the ``level`` percentile interval of ``D_E^2(x, reference)``."""

    def __init__(self, reference: np.ndarray, replicates: int, rng: np.random.Generator) -> None:
        self.reference = torch.as_tensor(np.asarray(reference), dtype=torch.float64)
        self.replicates, self.rng = int(replicates), rng
        m = self.reference.shape[0]
        counts = rng.multinomial(m, np.full(m, 1.0 / m), size=self.replicates)
        self.v = torch.as_tensor(counts, dtype=torch.float64)
        self.yy = _self_term(_distances(self.reference, self.reference), self.v)

    def replicate_values(self, x: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        n, m = x.shape[0], self.reference.shape[0]
        counts = self.rng.multinomial(n, np.full(n, 1.0 / n), size=self.replicates)
        w = torch.as_tensor(counts, dtype=torch.float64)
        xy = ((w @ _distances(x, self.reference)) * self.v).sum(1) / (n * m)
        return (2 * xy - _self_term(_distances(x, x), w) - self.yy).numpy()

    def interval(self, x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
        values = self.replicate_values(x)
        # a resample of one point repeated has no within-pairs (tiny sets only): left out
        low, high = np.nanquantile(values, [(1 - level) / 2, (1 + level) / 2])
        return float(low), float(high)
