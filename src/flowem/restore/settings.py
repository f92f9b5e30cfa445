"""Parameters of the ``restore`` command (the ``restore`` config section, ``--params`` JSON).

Defaults are the default profile (2 CPUs, the whole stage in a few minutes); unknown keys are
an error. ``sampler`` and ``degradation`` are nested sections.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from flowem.errors import ConfigError
from flowem.prior.settings import from_mapping
from flowem.restore.samplers import SamplerSettings
from flowem.restore.tasks import TASKS, DegradationSettings
from flowem.restore.tuning import check_grid


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
    full_slice_task: str | None = "sr4"  # one full 512 x 512 slice, stitched; None: skip
    speed: bool = True  # flow (SI) vs flow DPS on one patch of the speed task
    speed_task: str = "sr4"
    axial_volume_factor: int = 12  # real anisotropic volume: 50 nm -> 50/12 nm in z; 0: skip
    axial_volume_crop: int = 64
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
        unknown = sorted((set(self.tasks) | set(self.task_lr)) - set(TASKS))
        if unknown:
            raise ConfigError(f"restore.tasks: unknown {unknown}; known: {list(TASKS)}")
        if not 0 <= self.overlap_fraction < 1 or self.crop < 8 or self.batch_size < 1:
            raise ConfigError("restore: need 0 <= overlap_fraction < 1, crop >= 8, batch_size >= 1")
        if self.samples_per_image < 1 or self.tune_samples < 1:
            raise ConfigError("restore.samples_per_image and tune_samples must be >= 1")
        check_grid(self.tune)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RestoreSettings:
        return from_mapping(cls, params, "restore")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sampler"], out["degradation"] = asdict(self.sampler), asdict(self.degradation)
        return out
