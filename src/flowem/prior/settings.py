"""Stage parameters of ``train-prior`` and ``sample-prior`` (the ``--params`` JSON).

Defaults are the default (2-CPU, 30-minute pipeline) profile, measured on simulated T20S phase
maps at 32 x 32 (1.1 M parameters): 800 steps of batch 32 take ~7 minutes on 2 idle cores
(0.48-0.56 s a step) and reached ``energy_distance_ratio`` 1.73 (1.52 at 1,200 steps). The
paper profile (64 x 64, batch 256, 200,000 steps, lr 1e-4, 1,000 warm-up steps, EMA 0.999)
lives in the config files. Unknown keys are an error, so a typo never falls back to a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from flowem.prior.network import NetworkConfig
from flowem.settings import (
    check_at_least,
    check_choice,
    check_interval,
    check_positive,
    from_mapping,
)

OBJECTIVES = ("flow", "diffusion")


@dataclass(frozen=True)
class TrainingBudget:
    """The network and optimisation budget that the EM prior shares with its rivals (the
    supervised networks of :mod:`flowem.restore.supervised` read these keys of
    ``prior.em.train``; ``flowem.settings.BUDGET_KEYS`` names them for the workflow)."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    steps: int = 800
    batch_size: int = 32
    lr: float = 3e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    # 0.999 averages over ~1,000 steps: right for 200k steps, but in an 800-step run it would
    # still carry the first, untrained weights; 0.995 averages over the last ~200.
    ema_decay: float = 0.995
    rotate: bool = True
    bf16: bool = True
    log_every: int = 50
    checkpoint_every: int = 100
    device: str = "auto"

    def check_budget(self, section: str) -> None:
        if isinstance(self.network, dict):
            object.__setattr__(self, "network", from_mapping(NetworkConfig, self.network, section))
        check_at_least(self, section, 1, "steps", "batch_size", "log_every", "checkpoint_every")
        check_at_least(self, section, 0, "warmup_steps")
        check_positive(self, section, "lr", "grad_clip")
        check_interval(self, section, "ema_decay", 0, 1, open_high=True)


@dataclass(frozen=True)
class TrainSettings(TrainingBudget):
    """Optimisation of the flow-matching prior."""

    # flow: conditional flow matching on the linear path; diffusion: DDPM epsilon prediction
    # on the cosine VP path, the same network and budget (flowem.prior.diffusion)
    objective: str = "flow"
    val_count: int = 64

    def __post_init__(self) -> None:
        self.check_budget("train_prior")
        check_choice(self, "train_prior", "objective", OBJECTIVES)
        check_at_least(self, "train_prior", 0, "val_count")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainSettings:
        return from_mapping(cls, params, "train_prior")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["network"] = self.network.to_dict()
        return out


@dataclass(frozen=True)
class SampleSettings:
    """Unconditional sampling and the prior-quality measurement."""

    n_samples: int = 128
    solver: str = "euler"
    steps: int = 25
    rtol: float = 1e-3
    atol: float = 1e-3
    batch_size: int = 64
    montage_count: int = 8
    device: str = "auto"

    def __post_init__(self) -> None:
        check_choice(self, "sample_prior", "solver", ("euler", "dopri5"))
        check_at_least(self, "sample_prior", 1, "n_samples", "steps", "batch_size", "montage_count")
        check_positive(self, "sample_prior", "rtol", "atol")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SampleSettings:
        return from_mapping(cls, params, "sample_prior")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
