"""Checkpoints: the full training state (to resume) and the EMA model (what inference loads).

Both hold only tensors and plain Python types, so they load with ``torch.load(weights_only=True)``.
Every save is atomic: a crash while saving leaves the previous checkpoint in place.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flowem.errors import InputFileError
from flowem.io import atomic_path
from flowem.prior.dataset import Normaliser
from flowem.prior.errors import CheckpointMismatchError
from flowem.prior.network import NetworkConfig, VelocityNet

FORMAT_VERSION = 1
TRAINING_KIND = "flowem-prior-training-state"
MODEL_KIND = "flowem-prior-ema-model"


def capture_rng_state() -> dict[str, Any]:
    """Global generator states: Python, numpy, torch CPU and every CUDA device."""
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global state is saved)
    return {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available():  # a resumed run may see fewer or more devices
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)


def save_checkpoint(path: str | Path, payload: dict[str, Any], kind: str) -> Path:
    """Write ``payload`` tagged with ``kind`` and the format version, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"kind": kind, "format_version": FORMAT_VERSION, **payload}, tmp)
    return path


def load_checkpoint(path: str | Path, kind: str, network: NetworkConfig | None = None) -> dict:
    """Read a checkpoint of ``kind``; when ``network`` is given, it must match the stored one."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise InputFileError(path, f"not a readable checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise InputFileError(path, f"expected a checkpoint of kind '{kind}', found '{found}'")
    if payload.get("format_version") != FORMAT_VERSION:
        raise InputFileError(
            path, f"checkpoint format {payload.get('format_version')}, expected {FORMAT_VERSION}"
        )
    if network is not None:
        check_same_network(path, NetworkConfig.from_dict(payload["network"]), network)
    return payload


def check_same_network(path: str | Path, stored: NetworkConfig, wanted: NetworkConfig) -> None:
    """Raise :class:`CheckpointMismatchError` listing every architecture key that differs."""
    stored_d, wanted_d = stored.to_dict(), wanted.to_dict()
    differ = [
        f"{key} (checkpoint {stored_d[key]}, config {wanted_d[key]})"
        for key in stored_d
        if stored_d[key] != wanted_d[key]
    ]
    if differ:
        raise CheckpointMismatchError(
            f"{path}: checkpoint was trained with a different network architecture: "
            f"{'; '.join(differ)}. Restore those config values, or move the checkpoint away "
            "to train from scratch."
        )


def load_weights(path: str | Path, module: torch.nn.Module, state: dict[str, Any]) -> None:
    """``load_state_dict`` whose failure names the file (e.g. a hand-edited config)."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointMismatchError(
            f"{path}: weights do not fit the network architecture: {exc}"
        ) from exc


def save_prior_model(
    path: str | Path,
    network: NetworkConfig,
    ema_state: dict[str, torch.Tensor],
    normaliser: Normaliser,
    step: int,
    config: dict[str, Any],
    objective: str = "flow",
) -> Path:
    """The inference artefact: EMA weights, architecture, data scale and training objective
    (``flow`` or ``diffusion``; a model saved without one is a flow model)."""
    payload = {
        "network": network.to_dict(),
        "weights": ema_state,
        "data_scale": normaliser.scale,
        "step": step,
        "config": config,
        "objective": objective,
    }
    return save_checkpoint(path, payload, MODEL_KIND)


def load_prior_model(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[VelocityNet, Normaliser, dict[str, Any]]:
    """The EMA velocity network (eval mode, on ``device``), its normaliser and the payload."""
    payload = load_checkpoint(path, MODEL_KIND)
    net = VelocityNet(NetworkConfig.from_dict(payload["network"]))
    load_weights(path, net, payload["weights"])
    net.to(device).eval().requires_grad_(False)
    return net, Normaliser(scale=float(payload["data_scale"])), payload
