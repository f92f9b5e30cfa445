"""Command ``train-prior``: fit the flow-matching prior to an MRC stack of images.

``objective: diffusion`` trains the same network on the same batches with the DDPM epsilon
objective instead (:mod:`flowem.prior.diffusion`): the diffusion rival, at an equal budget.

Adam with linear warm-up, gradient clipping, EMA weights, bf16 autocast on CUDA, data-parallel
under ``torchrun``. A rerun resumes from ``--checkpoint`` and continues exactly as an
uninterrupted run would; a non-finite loss stops the run and keeps the last good checkpoint.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils import clip_grad_norm_
from torch.optim.lr_scheduler import LambdaLR

from flowem.command import command_parser, guarded, parse
from flowem.errors import ConfigError
from flowem.io import write_table
from flowem.prior.checkpoint import (
    TRAINING_KIND,
    capture_rng_state,
    load_checkpoint,
    load_weights,
    restore_rng_state,
    save_checkpoint,
    save_prior_model,
)
from flowem.prior.dataset import (
    FlowBatch,
    MrcImageStack,
    Normaliser,
    make_batch,
    validation_batch,
)
from flowem.prior.diffusion import epsilon_loss
from flowem.prior.distributed import (
    World,
    all_finite,
    barrier,
    mean_over_processes,
    start_world,
    stop_world,
)
from flowem.prior.ema import make_ema
from flowem.prior.errors import CheckpointMismatchError, TrainingDivergedError
from flowem.prior.figures import plot_loss_curve
from flowem.prior.network import VelocityNet, count_parameters
from flowem.prior.path import cfm_loss
from flowem.prior.settings import TrainSettings
from flowem.runtime import pick_device, seed_everything, setup_logging, write_run_config

LOG_COLUMNS = ("step", "train_loss", "grad_norm", "lr", "val_loss")


def objective_loss(objective: str):
    """``loss(net, x1, noise, time)`` of ``objective``; both take the same batches."""
    return epsilon_loss if objective == "diffusion" else cfm_loss


@dataclass(frozen=True)
class TrainPaths:
    """Inputs and outputs of one training run."""

    train: Path
    val: Path | None
    checkpoint: Path  # full training state, rewritten every checkpoint_every steps
    model: Path  # EMA weights for inference
    loss_csv: Path
    loss_plot: Path


@dataclass
class TrainState:
    """Everything a resumed run needs besides the data."""

    net: VelocityNet
    ema: torch.optim.swa_utils.AveragedModel
    optimizer: torch.optim.Adam
    scheduler: LambdaLR
    normaliser: Normaliser
    step: int
    loss_log: dict[str, list[float]]


def linear_warmup(warmup_steps: int):
    """LR factor: ramps linearly over ``warmup_steps`` steps to 1, then stays at 1."""
    return lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def build_state(
    settings: TrainSettings, paths: TrainPaths, stack: MrcImageStack, seed: int, world: World, log
) -> TrainState:
    """A fresh state seeded from ``seed``, or the one stored in ``paths.checkpoint``."""
    seed_everything(seed)
    net = VelocityNet(settings.network).to(world.device)
    ema = make_ema(net, settings.ema_decay)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    scheduler = LambdaLR(optimizer, linear_warmup(settings.warmup_steps))
    data_std = stack.std()
    state = TrainState(net, ema, optimizer, scheduler, Normaliser(data_std), 0, {})
    state.loss_log = {name: [] for name in LOG_COLUMNS}
    if not paths.checkpoint.is_file():
        log.info("fresh start: %d parameters, data std %.4g", count_parameters(net), data_std)
        return state
    saved = load_checkpoint(paths.checkpoint, TRAINING_KIND, settings.network)
    objective = saved.get("config", {}).get("objective", "flow")
    if objective != settings.objective:
        raise CheckpointMismatchError(
            f"{paths.checkpoint}: checkpoint was trained with objective '{objective}', the "
            f"config asks for '{settings.objective}'; move it away to train from scratch."
        )
    load_weights(paths.checkpoint, net, saved["model"])
    load_weights(paths.checkpoint, ema, saved["ema"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    restore_rng_state(saved["rng"])
    state.step, state.loss_log = int(saved["step"]), saved["loss_log"]
    state.normaliser = Normaliser(float(saved["data_scale"]))
    if not math.isclose(state.normaliser.scale, data_std, rel_tol=1e-6):
        log.warning(
            "training data std %.6g differs from the checkpoint's %.6g: data changed?",
            data_std,
            state.normaliser.scale,
        )
    log.info("resumed from %s at step %d", paths.checkpoint, state.step)
    return state


@torch.no_grad()
def validation_loss(
    ema_net: torch.nn.Module, batch, device: torch.device, objective: str = "flow"
) -> float:
    """The objective's loss of the EMA network on a fixed held-out batch (fixed noise, times)."""
    ema_net.eval()
    loss = objective_loss(objective)(
        ema_net, batch.x1.to(device), batch.x0.to(device), batch.t.to(device)
    )
    return float(loss)


def save_training_state(path: Path, state: TrainState, config: dict[str, Any]) -> None:
    payload = {
        "network": state.net.config.to_dict(),
        "model": state.net.state_dict(),
        "ema": state.ema.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "step": state.step,
        "rng": capture_rng_state(),
        "data_scale": state.normaliser.scale,
        "loss_log": state.loss_log,
        "config": config,
    }
    save_checkpoint(path, payload, TRAINING_KIND)


def optimisation_step(
    model: torch.nn.Module,
    state: TrainState,
    batch: FlowBatch,
    grad_clip: float,
    world: World,
    use_bf16: bool,
    objective: str = "flow",
) -> torch.Tensor | None:
    """One Adam update on this process's share of the batch; ``model`` may be DDP-wrapped.

    Returns ``(loss, gradient norm before clipping)``, or None, without updating anything,
    when either is non-finite on any process.
    """
    x1, x0, t = (v.to(world.device, non_blocking=True) for v in (batch.x1, batch.x0, batch.t))
    state.net.train()
    with torch.autocast(world.device.type, dtype=torch.bfloat16, enabled=use_bf16):
        loss = objective_loss(objective)(model, x1, x0, t)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = clip_grad_norm_(state.net.parameters(), grad_clip)
    if not all_finite(world, loss, grad_norm):
        return None
    state.optimizer.step()
    state.scheduler.step()
    state.ema.update_parameters(state.net)
    state.step += 1
    return torch.stack([loss.detach().float(), grad_norm.detach().float()])


def train(settings: TrainSettings, paths: TrainPaths, seed: int, world: World, log) -> TrainState:
    """Run the optimisation up to ``settings.steps`` and write every output on rank 0."""
    if settings.batch_size % world.size:
        raise ConfigError(
            f"train_prior.batch_size {settings.batch_size} is not divisible by the "
            f"{world.size} processes"
        )
    stack = MrcImageStack(paths.train)
    if stack.image_size != settings.network.image_size:
        raise ConfigError(
            f"{paths.train}: images are {stack.image_size} px but "
            f"train_prior.network.image_size is {settings.network.image_size}"
        )
    config = {"seed": seed, "world_size": world.size, **settings.to_dict()}
    config |= {"train": str(paths.train), "val": str(paths.val) if paths.val else None}
    state = build_state(settings, paths, stack, seed, world, log)
    ema, model = state.ema, state.net
    if world.distributed:
        ids = [world.device.index] if world.device.type == "cuda" else None
        model = DistributedDataParallel(state.net, device_ids=ids)
    val_batch = None
    if paths.val is not None:
        val_batch = validation_batch(
            MrcImageStack(paths.val), state.normaliser, settings.val_count, seed
        )
    use_bf16 = settings.bf16 and world.device.type == "cuda"
    interval: list[torch.Tensor] = []  # (loss, grad norm) of each step since the last log row
    last_saved, tic = state.step, time.perf_counter()
    while state.step < settings.steps:
        batch = make_batch(stack, state.normaliser, settings.batch_size, seed, state.step,
                           world.rank, world.size, settings.rotate)  # fmt: skip
        lr = state.scheduler.get_last_lr()[0]
        loss_and_norm = optimisation_step(
            model, state, batch, settings.grad_clip, world, use_bf16, settings.objective
        )
        if loss_and_norm is None:
            raise TrainingDivergedError(
                f"{paths.train}: non-finite loss or gradient norm at step {state.step + 1}; "
                f"stopped without saving. The last good checkpoint {paths.checkpoint} "
                f"(step {last_saved}) is kept; lower train_prior.lr or check the training data."
            )
        interval.append(loss_and_norm)
        checkpoint_due = state.step % settings.checkpoint_every == 0
        checkpoint_due = checkpoint_due or state.step == settings.steps
        if state.step % settings.log_every == 0 or checkpoint_due:
            val = float("nan")
            if checkpoint_due and val_batch is not None:
                val = validation_loss(ema.module, val_batch, world.device, settings.objective)
            loss, grad_norm = mean_over_processes(torch.stack(interval).mean(0), world).tolist()
            for name, value in zip(
                LOG_COLUMNS, (state.step, loss, grad_norm, lr, val), strict=True
            ):
                state.loss_log[name].append(value)
            rate = len(interval) * settings.batch_size / (time.perf_counter() - tic)
            log.info("step %d loss %.4f val %.4f lr %.2e %.1f img/s",
                     state.step, loss, val, lr, rate)  # fmt: skip
            interval, tic = [], time.perf_counter()
        if checkpoint_due:
            if world.is_main:
                save_training_state(paths.checkpoint, state, config)
                write_table(paths.loss_csv, pd.DataFrame(state.loss_log))
            last_saved = state.step
            barrier(world)
    if world.is_main:
        save_prior_model(
            paths.model,
            settings.network,
            ema.module.state_dict(),
            state.normaliser,
            state.step,
            config,
            settings.objective,
        )
        table = pd.DataFrame(state.loss_log)
        write_table(paths.loss_csv, table)
        plot_loss_curve(paths.loss_plot, table)
        write_run_config(paths.model.parent, config, name="train_prior_config.json")
    return state


def run(settings: TrainSettings, paths: TrainPaths, seed: int, log_file: str | None = None):
    """Train (or resume) as this process of the ``torchrun`` world; the final state.

    Training writes as it goes (checkpoints, then the model, loss log and curve on rank 0), so
    an interrupted run resumes from ``paths.checkpoint``.
    """
    world = start_world(pick_device(settings.device))
    log = setup_logging(
        log_file if world.is_main else None, name=f"flowem.train_prior.{world.rank}"
    )
    try:
        return train(settings, paths, seed, world, log)
    finally:
        stop_world(world)


@guarded
def main(argv: list[str] | None = None) -> int:
    parser = command_parser("flowem train-prior", __doc__, threads=True)
    parser.add_argument("--train", required=True, help="training images, (N, H, W) MRC stack")
    parser.add_argument("--val", default=None, help="held-out images for the validation loss")
    parser.add_argument("--checkpoint", required=True, help="training state (resumed if present)")
    parser.add_argument("--model", required=True, help="output: EMA model for inference (.pt)")
    parser.add_argument("--loss-csv", required=True, help="output: loss log (.csv)")
    parser.add_argument("--loss-plot", required=True, help="output: loss curve (.png)")
    args, params = parse(parser, argv, TrainSettings().to_dict())
    settings = TrainSettings.from_params(params)
    paths = TrainPaths(
        train=Path(args.train),
        val=Path(args.val) if args.val else None,
        checkpoint=Path(args.checkpoint),
        model=Path(args.model),
        loss_csv=Path(args.loss_csv),
        loss_plot=Path(args.loss_plot),
    )
    run(settings, paths, args.seed, args.log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
