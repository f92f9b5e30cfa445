"""The posterior-sampling rows of the restoration table: a prior's restorer, each sampler tuned
on the validation crops with the same budget, and the optional rivals (a diffusion prior for
DPS, supervised networks).

Every sampled row of a task restores the same measurements from the same noise (common random
numbers), so paired differences between rows measure the samplers, not the draws.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flowem.errors import ConfigError, InputFileError
from flowem.posterior import SamplerSettings, sample
from flowem.prior.velocity import PriorVelocity, load_velocity
from flowem.restore.crops import Crops
from flowem.restore.evaluate import mean_psnr
from flowem.restore.normalise import Normalisation, fit_normalisation, is_identity
from flowem.restore.settings import RestoreSettings
from flowem.restore.stitching import StitchedVelocity, overlap_pixels
from flowem.restore.tasks import TASKS, Task, make_task
from flowem.restore.tuning import row_sampler, tune_sampler
from flowem.runtime import torch_generator

MEASURE_STREAM, NOISE_STREAM, FRESH_STREAM = 711, 712, 713
SUPERVISED, DIFFUSION = "supervised", "diffusion_dps"


def split_key(index: int, split: str) -> int:
    """The measurement stream of task number ``index``'s ``"test"`` or ``"val"`` crops."""
    return 2 * index + (split == "val")


def measure(task: Task, clean: np.ndarray, seed: int, key: int) -> torch.Tensor:
    """Degraded images (N, 1, h, w), the noise of each task/split drawn from its own stream."""
    x = torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32)).unsqueeze(1)
    return task.measure(x, torch_generator(seed, MEASURE_STREAM, key))


@dataclass
class Restorer:
    """A prior, seed and device: measurements and posterior-sampling restorations."""

    prior: PriorVelocity
    seed: int
    device: torch.device

    def measure(self, task: Task, clean: np.ndarray, key: int) -> torch.Tensor:
        return measure(task, clean, self.seed, key)

    def normalisations(
        self, task: Task, y: torch.Tensor, settings: RestoreSettings, shape: tuple[int, int]
    ) -> list[Normalisation]:
        """Each measurement's normalisation (``settings.normalise``, ``settings.polarity``),
        its spread corrected for the task's noise (data units); ``shape``: the restoration's."""
        factor = (shape[0] / y.shape[-2], shape[1] / y.shape[-1])  # measured px / prior px
        return [
            fit_normalisation(
                m, settings.normalise, settings.polarity, task.noise.std, pixel_factor=factor
            )
            for m in y.numpy()[:, 0]
        ]

    def test_normalisations(
        self, name: str, test: Crops, settings: RestoreSettings
    ) -> list[dict[str, Any]]:
        """Each test crop's measurement normalisation in task ``name`` (as restored), with
        the crop's number."""
        task = make_task(name, settings.degradation)
        y = self.measure(task, test.images, split_key(TASKS.index(name), "test"))
        fits = self.normalisations(task, y, settings, tuple(test.images.shape[-2:]))
        return [
            {"crop": int(c), **f.to_dict()} for c, f in zip(test.table["crop"], fits, strict=True)
        ]

    def restore(
        self,
        task: Task,
        y: torch.Tensor,
        sampler: SamplerSettings,
        settings: RestoreSettings,
        key: int,
        shape: tuple[int, int],
        samples: int | None = None,
    ) -> np.ndarray:
        """Restorations (N, H, W) in data units: the mean of ``samples`` (default
        ``settings.samples_per_image``) posterior samples per measurement, each from one
        global noise image. Without normalisation (``fixed``, ``dark``: the data as they are)
        all of them in one batch; else each measurement normalised by its own statistics,
        restored with the noise std in normalised units and mapped back."""
        count = samples or settings.samples_per_image
        generator = torch_generator(self.seed, NOISE_STREAM, key)
        noise = torch.randn((len(y) * count, 1, *shape), generator=generator)
        fresh = torch_generator(self.seed, FRESH_STREAM, key)
        if is_identity(settings.normalise, settings.polarity, np.dtype(np.float32)):
            y_rep = y.repeat_interleave(count, dim=0)
            out = self.sample(task, y_rep, noise, sampler, settings, fresh, task.noise.std)
            return out.reshape(len(y), count, *shape).mean(dim=1).numpy()
        images = []
        for i, fit in enumerate(self.normalisations(task, y, settings, shape)):
            y_norm = torch.from_numpy(fit.apply(y[i : i + 1].numpy()))
            y_rep = y_norm.repeat_interleave(count, dim=0)
            sigma = fit.normalised_std(task.noise.std)
            out = self.sample(
                task, y_rep, noise[i * count : (i + 1) * count], sampler, settings, fresh, sigma
            )
            images.append(fit.invert(out.mean(dim=0).numpy()))
        return np.stack(images).astype(np.float32)

    def sample(
        self,
        task: Task,
        y: torch.Tensor,
        noise: torch.Tensor,
        sampler: SamplerSettings,
        settings: RestoreSettings,
        generator: torch.Generator,
        noise_std: float,
    ) -> torch.Tensor:
        """One posterior sample per item of ``y`` (B, 1, h, w) from ``noise`` (B, 1, H, W),
        with the prior stitched over the image; (B, H, W) on the CPU, float32."""
        prior = self.prior
        overlap = overlap_pixels(prior.patch, settings.overlap_fraction)
        velocity = StitchedVelocity(prior, prior.patch, overlap, settings.batch_size)
        out = sample(
            velocity,
            noise.to(self.device),
            task.operator,
            y.to(self.device),
            sampler,
            generator,
            scale=prior.scale,
            noise_std=noise_std,
        )
        return out.float().cpu()[:, 0]


@dataclass
class Rivals:
    """The optional rows: a diffusion prior (DPS) and supervised networks per task."""

    diffusion: Restorer | None = None
    supervised: dict[str, Any] = field(default_factory=dict)  # task -> .restore(y, shape)


@dataclass
class Split:
    """One task's crops and their measurements."""

    crops: Crops
    y: torch.Tensor


def tuned_sampler(
    restorer: Restorer,
    task: Task,
    index: int,
    method: str,
    val: Split,
    settings: RestoreSettings,
) -> tuple[SamplerSettings, dict]:
    """``method``'s sampler for the task: its grid of ``settings.tune`` searched on the
    validation crops, else the base sampler with the task's ``task_lr``."""
    base = replace(settings.sampler, lr=settings.task_lr.get(task.name, settings.sampler.lr))
    if settings.samplers:  # else the base sampler as it is (the ablations)
        base = row_sampler(base, method)
    if not settings.tune:
        return base, {"params": {}, "val_psnr": None, "trials": []}
    shape = tuple(val.crops.images.shape[-2:])

    def score(sampler: SamplerSettings) -> float:
        images = restorer.restore(
            task, val.y, sampler, settings, 1000 + index, shape, settings.tune_samples
        )
        return mean_psnr(val.crops.images, images)

    return tune_sampler(score, base, settings.tune[method])


def sampled_rows(
    index: int,
    task: Task,
    restorer: Restorer,
    rivals: Rivals,
    test: Split,
    val: Split,
    settings: RestoreSettings,
) -> tuple[dict, dict, dict, dict, dict]:
    """Restorations, chosen settings, samplers, seconds per image and crop subsets (rows not
    run on every test crop: DPS on ``diffusion_crops`` of them) of the posterior-sampling rows
    (each flow sampler, DPS on the diffusion prior). Every flow row draws the same noise."""
    arms = [(f"flow_{m}", m, restorer) for m in settings.flow_methods]
    if rivals.diffusion is not None and task.name in settings.diffusion_tasks:
        arms.append((DIFFUSION, "dps", rivals.diffusion))
    shape = tuple(test.crops.images.shape[-2:])
    results, chosen, samplers, seconds, subsets = {}, {}, {}, {}, {}
    for row, method, arm in arms:
        samplers[row], chosen[row] = tuned_sampler(arm, task, index, method, val, settings)
        which = test.crops.spread(settings.diffusion_crops if row == DIFFUSION else 0)
        tic = time.perf_counter()
        results[row] = arm.restore(task, test.y[which], samplers[row], settings, index, shape)
        seconds[row] = (time.perf_counter() - tic) / len(which)
        if len(which) < len(test.crops):
            subsets[row] = which
    return results, chosen, samplers, seconds, subsets


def load_rivals(
    settings: RestoreSettings,
    seed: int,
    device: torch.device,
    supervised: list[str | Path] = (),
    diffusion_model: str | Path | None = None,
) -> Rivals:
    """The diffusion prior and the supervised networks (each knows its task; a task of the run
    without one gets no supervised row), where given."""
    rivals = Rivals()
    if diffusion_model is not None:
        if settings.tune and "dps" not in settings.tune:
            raise ConfigError("restore.tune: no dps grid to tune DPS on the diffusion prior")
        rivals.diffusion = Restorer(load_velocity(diffusion_model, device), seed, device)
    if supervised:
        from flowem.restore.supervised import load_supervised

        for path in map(Path, supervised):
            if not path.is_file():
                raise InputFileError(path, "no such supervised network")
            network = load_supervised(path, device)
            if network.task in rivals.supervised:
                raise InputFileError(path, f"a second supervised network for {network.task!r}")
            if network.task in settings.tasks:
                rivals.supervised[network.task] = network
    return rivals
