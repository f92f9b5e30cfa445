"""Parameters of the ``restore`` command (the ``restore`` config section, ``--params`` JSON).

Defaults are the default profile (2 CPUs, the whole stage in a few minutes); unknown keys are
an error. ``sampler`` and ``degradation`` are nested sections.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from flowem.posterior import SamplerSettings
from flowem.restore.tasks import TASKS, DegradationSettings
from flowem.restore.tuning import check_grid
from flowem.settings import (
    check_at_least,
    check_choice,
    check_interval,
    from_mapping,
    reject_unknown,
)


@dataclass(frozen=True)
class RestoreSettings:
    """Which images, which sampler, which extra experiments."""

    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    degradation: DegradationSettings = field(default_factory=DegradationSettings)
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    task_lr: dict[str, float] = field(default_factory=dict)  # per-task override of sampler.lr
    test_slices: list[int] = field(default_factory=lambda: list(range(24, 30)))
    val_slices: list[int] = field(default_factory=lambda: [22, 23])  # baseline tuning
    samples_per_image: int = 1  # posterior samples averaged into the restoration (their mean)
    tune: dict[str, list] = field(default_factory=dict)  # sampler grid tuned per task on val
    tune_samples: int = 1  # posterior samples per validation image while tuning
    niqe_slices: list[int] = field(default_factory=lambda: list(range(22)))  # EM NIQE model
    crop: int = 128  # centred crop of each test slice (512: full slices)
    overlap_fraction: float = 0.125
    batch_size: int = 64  # patches per network call
    full_slice_task: str | None = None  # one full 512 x 512 slice, stitched (paper: sr4)
    speed: bool = True  # flow (SI) vs flow DPS on one patch of the speed task
    speed_task: str = "sr4"
    axial_volume_factor: int = 4  # real volume: 50 nm -> 50/4 nm in z (paper 12); 0: skip
    axial_volume_crop: int = 32
    device: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.sampler, dict):
            object.__setattr__(
                self, "sampler", from_mapping(SamplerSettings, self.sampler, "restore.sampler")
            )
        if isinstance(self.degradation, dict):
            object.__setattr__(
                self,
                "degradation",
                from_mapping(DegradationSettings, self.degradation, "restore.degradation"),
            )
        reject_unknown(dict.fromkeys(self.tasks), TASKS, "restore.tasks")
        reject_unknown(self.task_lr, TASKS, "restore.task_lr")
        check_interval(self, "restore", "overlap_fraction", 0, 1, open_high=True)
        check_at_least(self, "restore", 8, "crop", "axial_volume_crop")
        check_at_least(self, "restore", 1, "batch_size", "samples_per_image", "tune_samples")
        check_at_least(self, "restore", 0, "axial_volume_factor")
        in_plane = tuple(task for task in TASKS if task != "axial")
        check_choice(self, "restore", "speed_task", in_plane)
        check_choice(self, "restore", "full_slice_task", (None, *in_plane))
        check_grid(self.tune)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RestoreSettings:
        return from_mapping(cls, params, "restore")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sampler"], out["degradation"] = asdict(self.sampler), asdict(self.degradation)
        return out
