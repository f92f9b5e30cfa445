"""Command ``train-supervised``: one supervised restoration network per task (issue 15).

The rival a user would train instead of the EM prior: for task T, random ``patch`` px squares
of the EM volume's training slices are degraded on the fly by T's operator and noise
(:func:`~flowem.restore.tasks.make_task`, fresh noise every batch), brought to the image grid
(:func:`to_image_grid`: bicubic for SR, linear along rows for axial, as they are otherwise) and a
residual U-Net learns the clean patch, ``x_hat = up(y) + net(up(y))``. The network is the EM
prior's :class:`~flowem.prior.network.VelocityNet` with its time input fixed at 1 and without
its attention blocks, so it is fully convolutional (any crop whose sides are multiples of the
U-Net's stride; :meth:`SupervisedRestorer.restore` pads others). The budget is the prior's:
the workflow passes ``prior.em.train``'s steps, batch, lr, warm-up, clipping and EMA.

Axial: the operator decimates the rows of xy slices (the in-plane proxy); the network is then
applied to xz / yz planes, whose rows are z (the usual isotropic-recovery trick). Batches are
pure functions of ``(seed, step)`` and the RNG state is checkpointed, so a resumed run continues
exactly where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.nn.utils import clip_grad_norm_
from torch.optim.lr_scheduler import LambdaLR

from flowem.command import command_parser, guarded, parse
from flowem.io import write_table
from flowem.physics.operators import AreaDownsample, Decimate
from flowem.prior.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    load_weights,
    restore_rng_state,
    save_checkpoint,
)
from flowem.prior.dataset import rotate_quarter_turns
from flowem.prior.ema import make_ema
from flowem.prior.errors import TrainingDivergedError
from flowem.prior.figures import plot_loss_curve
from flowem.prior.network import NetworkConfig, VelocityNet, count_parameters
from flowem.prior.settings import TrainingBudget
from flowem.prior.train import linear_warmup
from flowem.restore.patches import random_patches, read_em_volume
from flowem.restore.tasks import TASKS, DegradationSettings, Task, make_task
from flowem.runtime import (
    pick_device,
    rng,
    seed_everything,
    setup_logging,
    torch_generator,
    write_run_config,
)
from flowem.settings import (
    check_choice,
    from_mapping,
)

TRAINING_KIND = "flowem-supervised-training-state"
MODEL_KIND = "flowem-supervised-model"
PATCH_KEY, NOISE_STREAM, TURN_STREAM = 731, 732, 733
LOG_COLUMNS = ("step", "train_loss", "grad_norm", "lr")


@dataclass(frozen=True)
class SupervisedSettings(TrainingBudget):
    """One task's training (the workflow fills every key but ``task`` from other sections:
    the budget from ``prior.em.train``, ``degradation`` from ``restore.degradation``,
    ``train_slices`` from ``em_patches.train_slices``)."""

    task: str = "denoise"
    degradation: DegradationSettings = field(default_factory=DegradationSettings)
    train_slices: list[int] = field(default_factory=lambda: list(range(22)))

    def __post_init__(self) -> None:
        self.check_budget("supervised")
        if isinstance(self.degradation, dict):
            degradation = from_mapping(DegradationSettings, self.degradation, "restore.degradation")
            object.__setattr__(self, "degradation", degradation)
        check_choice(self, "supervised", "task", TASKS)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SupervisedSettings:
        return from_mapping(cls, params, "supervised")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["network"], out["degradation"] = self.network.to_dict(), asdict(self.degradation)
        return out


def restoration_network(network: NetworkConfig) -> NetworkConfig:
    """The prior's U-Net without attention: fully convolutional, any image size."""
    return replace(network, attention_levels=(), mid_attention=False)


def to_image_grid(task: Task, y: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The measurement (N, 1, h, w) on the image grid (N, 1, H, W), as the baselines see it:
    bicubic upsampling of block means (SR), linear interpolation between measured rows (held
    past the last one; axial), unchanged otherwise (denoise, deblur)."""
    op, (height, width) = task.operator, shape
    if isinstance(op, AreaDownsample):
        k = op.factor
        size = (y.shape[-2] * k, y.shape[-1] * k)
        up = F.interpolate(y, size=size, mode="bicubic", align_corners=False)
        return up[..., :height, :width]
    if isinstance(op, Decimate):
        if op.dim not in (-2, y.ndim - 2):
            raise ValueError(f"supervised axial restoration decimates rows, not dim {op.dim}")
        position = torch.arange(height, device=y.device, dtype=y.dtype) / op.factor
        position = position.clamp(max=y.shape[-2] - 1)
        below = position.floor().long()
        above = (below + 1).clamp(max=y.shape[-2] - 1)
        weight = (position - below).reshape(-1, 1)
        return (1 - weight) * y[..., below, :] + weight * y[..., above, :]
    if tuple(y.shape[-2:]) != tuple(shape):
        raise ValueError(f"task {task.name}: measurement {tuple(y.shape[-2:])} != image {shape}")
    return y


def _stride(network: NetworkConfig) -> int:
    return network.space_to_depth * 2 ** (len(network.block_out_channels) - 1)


@dataclass
class SupervisedRestorer:
    """A trained network for one task; :meth:`restore` maps measurements to images."""

    task: str  # the task's name
    degradation: DegradationSettings
    net: VelocityNet
    scale: float  # network units = data units / scale
    batch_size: int = 64

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clean estimate of grid images ``x`` (B, 1, H, W), network units; any H, W."""
        stride = _stride(self.net.config)
        pad_h, pad_w = -x.shape[-2] % stride, -x.shape[-1] % stride
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
        ones = torch.ones(len(x), device=x.device)
        out = padded + self.net(padded, ones).to(padded.dtype)
        return out[..., : x.shape[-2], : x.shape[-1]]

    @torch.no_grad()
    def restore(self, y: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
        """Restorations (N, H, W) in data units of measurements ``y`` (N, 1, h, w), data units."""
        task = make_task(self.task, self.degradation)
        param = next(self.net.parameters())
        out = []
        for start in range(0, len(y), self.batch_size):
            chunk = y[start : start + self.batch_size].to(param.device, param.dtype)
            x = to_image_grid(task, chunk, tuple(shape)) / self.scale
            out.append((self._forward(x) * self.scale)[:, 0].float().cpu())
        return torch.cat(out).numpy()


def load_supervised(path: str | Path, device: torch.device | str = "cpu") -> SupervisedRestorer:
    """The EMA network written by ``train-supervised`` (eval mode, on ``device``)."""
    payload = load_checkpoint(path, MODEL_KIND)
    net = VelocityNet(NetworkConfig.from_dict(payload["network"]))
    load_weights(path, net, payload["weights"])
    net.to(device).eval().requires_grad_(False)
    degradation = DegradationSettings(**payload["degradation"])
    return SupervisedRestorer(payload["task"], degradation, net, float(payload["data_scale"]))


def training_pair(
    volume: np.ndarray, task: Task, settings: SupervisedSettings, scale: float, seed: int, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input on the image grid, clean target)`` (B, 1, P, P), network units, of ``step``."""
    size, batch = settings.network.image_size, settings.batch_size
    clean = random_patches(volume, settings.train_slices, batch, size, seed, PATCH_KEY + step)
    if settings.rotate:
        clean = rotate_quarter_turns(clean, rng(seed, TURN_STREAM, step).integers(0, 4, batch))
    x = torch.from_numpy(np.ascontiguousarray(clean)).unsqueeze(1)
    y = task.measure(x, torch_generator(seed, NOISE_STREAM, step))
    return to_image_grid(task, y, (size, size)) / scale, x / scale


@dataclass(frozen=True)
class SupervisedPaths:
    volume: Path | None
    checkpoint: Path
    model: Path
    loss_csv: Path
    loss_plot: Path


def run(settings: SupervisedSettings, paths: SupervisedPaths, seed: int, log) -> int:
    """Train (or resume) up to ``settings.steps``, writing checkpoints as it goes, then the
    EMA model, loss log and curve; returns the final step."""
    volume, _ = read_em_volume(paths.volume)
    task = make_task(settings.task, settings.degradation)
    device = pick_device(settings.device)
    seed_everything(seed)
    network = restoration_network(settings.network)
    net = VelocityNet(network).to(device)
    restorer = SupervisedRestorer(settings.task, settings.degradation, net, 1.0)
    ema = make_ema(net, settings.ema_decay)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    scheduler = LambdaLR(optimizer, linear_warmup(settings.warmup_steps))
    restorer.scale = float(volume[settings.train_slices].astype(np.float64).std())
    step, loss_log = 0, {name: [] for name in LOG_COLUMNS}
    config = {"seed": seed, "volume": str(paths.volume), **settings.to_dict()}
    if paths.checkpoint.is_file():
        saved = load_checkpoint(paths.checkpoint, TRAINING_KIND, network)
        load_weights(paths.checkpoint, net, saved["model"])
        load_weights(paths.checkpoint, ema, saved["ema"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        restore_rng_state(saved["rng"])
        step, loss_log = int(saved["step"]), saved["loss_log"]
        log.info("resumed from %s at step %d", paths.checkpoint, step)
    else:
        log.info("task %s: %d parameters, data std %.4g", settings.task,
                 count_parameters(net), restorer.scale)  # fmt: skip
    use_bf16 = settings.bf16 and device.type == "cuda"
    interval, tic = [], time.perf_counter()
    while step < settings.steps:
        x_in, target = (v.to(device) for v in training_pair(
            volume, task, settings, restorer.scale, seed, step))  # fmt: skip
        lr = scheduler.get_last_lr()[0]
        net.train()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = (restorer._forward(x_in).float() - target).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm_(net.parameters(), settings.grad_clip)
        if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
            raise TrainingDivergedError(
                f"{paths.checkpoint}: non-finite loss at step {step + 1}; the last checkpoint is "
                "kept; lower prior.em.train.lr or check the EM volume."
            )
        optimizer.step()
        scheduler.step()
        ema.update_parameters(net)
        step += 1
        interval.append((float(loss.detach()), float(grad_norm)))
        due = step % settings.checkpoint_every == 0 or step == settings.steps
        if step % settings.log_every == 0 or due:
            mean_loss, mean_norm = np.mean(interval, axis=0)
            for name, value in zip(LOG_COLUMNS, (step, mean_loss, mean_norm, lr), strict=True):
                loss_log[name].append(float(value))
            rate = len(interval) * settings.batch_size / (time.perf_counter() - tic)
            log.info("step %d loss %.5f %.1f img/s", step, mean_loss, rate)
            interval, tic = [], time.perf_counter()
        if due:
            state = {"model": net.state_dict(), "ema": ema.state_dict(), "step": step,
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "rng": capture_rng_state(), "loss_log": loss_log,
                     "network": network.to_dict(), "config": config}  # fmt: skip
            save_checkpoint(paths.checkpoint, state, TRAINING_KIND)
            write_table(paths.loss_csv, pd.DataFrame(loss_log))
    payload = {
        "task": settings.task,
        "network": network.to_dict(),
        "weights": ema.module.state_dict(),
        "data_scale": restorer.scale,
        "degradation": asdict(settings.degradation),
        "step": step,
        "config": config,
    }
    save_checkpoint(paths.model, payload, MODEL_KIND)
    table = pd.DataFrame(loss_log)
    write_table(paths.loss_csv, table)
    plot_loss_curve(paths.loss_plot, table.assign(val_loss=np.nan))
    write_run_config(paths.model.parent, config, name="train_supervised_config.json")
    return step


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem train-supervised", __doc__, threads=True)
    parser.add_argument("--volume", default=None, help="EM volume TIFF (default: fetch ISBI 2012)")
    parser.add_argument("--checkpoint", required=True, help="training state (resumed if present)")
    parser.add_argument("--model", required=True, help="output: EMA network for inference (.pt)")
    parser.add_argument("--loss-csv", required=True, help="output: loss log (.csv)")
    parser.add_argument("--loss-plot", required=True, help="output: loss curve (.png)")
    args, params = parse(parser, argv, SupervisedSettings().to_dict())
    settings = SupervisedSettings.from_params(params)
    paths = SupervisedPaths(
        volume=Path(args.volume) if args.volume else None,
        checkpoint=Path(args.checkpoint),
        model=Path(args.model),
        loss_csv=Path(args.loss_csv),
        loss_plot=Path(args.loss_plot),
    )
    run(settings, paths, args.seed, setup_logging(args.log, name="flowem.train_supervised"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
