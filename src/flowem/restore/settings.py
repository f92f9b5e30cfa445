"""Parameters of the ``restore`` command (the ``restore`` config section, ``--params`` JSON).

Defaults are the default profile (2 CPUs, the whole stage in a few minutes); unknown keys are
an error. ``sampler``, ``degradation`` and ``user`` (the ``restore-image`` command's) are nested
sections.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from flowem.posterior import SamplerSettings
from flowem.posterior.settings import METHODS
from flowem.restore.normalise import NORMALISE, POLARITY
from flowem.restore.tasks import TASKS, DegradationSettings
from flowem.restore.tuning import check_tune
from flowem.settings import (
    check_at_least,
    check_choice,
    check_interval,
    check_positive,
    from_mapping,
    reject_unknown,
    require,
)

USER_TASKS = ("denoise", "sr2", "sr3", "sr4", "deblur")


@dataclass(frozen=True)
class UserImageSettings:
    """``restore-image``: one user's TIFF/MRC restored with the EM prior (``restore.user``)."""

    task: str = "denoise"
    normalise: str = "robust"  # per image: median / robust spread to ISBI's (restore.normalise)
    polarity: str = "auto"  # membranes: found from the image; "dark" / "bright" to say so
    #: measurement noise std in the image's grey levels, on the prior's pixel grid (after
    #: resampling); None: estimated from the image (wavelet median estimator)
    noise_sigma: float | None = None
    pixel_nm: float | None = None  # the image's pixel size; None: from its header
    prior_pixel_nm: float = 4.0  # the prior's training pixel size (ISBI 2012: 4 nm)

    def __post_init__(self) -> None:
        section = "restore.user"
        check_choice(self, section, "task", USER_TASKS)
        check_choice(self, section, "normalise", NORMALISE)
        check_choice(self, section, "polarity", POLARITY)
        check_positive(self, section, "prior_pixel_nm")
        if self.pixel_nm is not None:
            check_positive(self, section, "pixel_nm")
        if self.noise_sigma is not None:
            check_at_least(self, section, 0, "noise_sigma")


@dataclass(frozen=True)
class RestoreSettings:
    """Which images, which sampler, which extra experiments."""

    sampler: SamplerSettings = field(default_factory=SamplerSettings)  # base of every row
    degradation: DegradationSettings = field(default_factory=DegradationSettings)
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    #: the flow rows (``flow_<method>``), each ``sampler`` switched to that method and its own
    #: schedule (tuning.row_sampler); empty: one row of ``sampler`` as it is (the ablations)
    samplers: list[str] = field(default_factory=lambda: ["dc", "si", "pnp"])
    task_lr: dict[str, float] = field(default_factory=dict)  # per-task override of sampler.lr
    test_slices: list[int] = field(default_factory=lambda: list(range(24, 30)))
    val_slices: list[int] = field(default_factory=lambda: [22, 23])  # tuning, never tested
    samples_per_image: int = 1  # posterior samples averaged into the restoration (their mean)
    #: per sampler (dc, si, pnp, dps) a grid tuned per task on the validation crops; every grid
    #: the same size (the same budget); {}: no tuning
    tune: dict[str, dict[str, list]] = field(default_factory=dict)
    tune_samples: int = 1  # posterior samples per validation image while tuning
    niqe_slices: list[int] = field(default_factory=lambda: list(range(22)))  # EM NIQE model
    crop: int = 128  # side of each test and validation crop (512 with crop_grid 1: full slices)
    crop_grid: int = 1  # test crops: a crop_grid x crop_grid grid of crops per test slice
    val_crop_grid: int = 1  # the same on each validation slice
    #: tasks that get the diffusion_dps row when a diffusion prior is given (DPS is costly)
    diffusion_tasks: list[str] = field(default_factory=lambda: list(TASKS))
    diffusion_crops: int = 0  # DPS on this many test crops, spread over the set (0: all)
    overlap_fraction: float = 0.125
    batch_size: int = 64  # patches per network call
    full_slice_task: str | None = None  # one full 512 x 512 slice, stitched (paper: sr4)
    speed: bool = True  # flow vs DPS (diffusion prior if given) on the speed task
    speed_task: str = "sr4"
    axial_volume_factor: int = 4  # real volume: 50 nm -> 50/4 nm in z (paper 12); 0: skip
    axial_volume_crop: int = 32
    device: str = "auto"
    #: the flow rows' intensities: "fixed" the data as they are (x / 127.5 - 1), "robust" each
    #: measurement's median / robust spread to ISBI's (flowem.restore.normalise), then back
    normalise: str = "fixed"
    polarity: str = "dark"  # membranes: "dark" as they are, "bright" inverted, "auto" found
    user: UserImageSettings = field(default_factory=UserImageSettings)

    def __post_init__(self) -> None:
        if isinstance(self.user, dict):
            object.__setattr__(
                self, "user", from_mapping(UserImageSettings, self.user, "restore.user")
            )
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
        reject_unknown(dict.fromkeys(self.diffusion_tasks), TASKS, "restore.diffusion_tasks")
        reject_unknown(dict.fromkeys(self.samplers), METHODS, "restore.samplers")
        require(
            len(set(self.samplers)) == len(self.samplers), "restore.samplers", "a sampler twice"
        )
        check_interval(self, "restore", "overlap_fraction", 0, 1, open_high=True)
        check_at_least(self, "restore", 8, "crop", "axial_volume_crop")
        check_at_least(self, "restore", 1, "batch_size", "samples_per_image", "tune_samples")
        check_at_least(self, "restore", 1, "crop_grid", "val_crop_grid")
        check_at_least(self, "restore", 0, "diffusion_crops")
        check_at_least(self, "restore", 0, "axial_volume_factor")
        in_plane = tuple(task for task in TASKS if task != "axial")
        check_choice(self, "restore", "speed_task", in_plane)
        check_choice(self, "restore", "full_slice_task", (None, *in_plane))
        check_choice(self, "restore", "normalise", NORMALISE)
        check_choice(self, "restore", "polarity", POLARITY)
        check_tune(self.tune)
        if self.tune:
            for method in self.flow_methods:
                require(method in self.tune, "restore.tune", f"no grid for sampler {method!r}")

    @property
    def flow_methods(self) -> list[str]:
        """The flow rows' methods (``samplers``, else the base sampler's)."""
        return list(self.samplers) or [self.sampler.method]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RestoreSettings:
        return from_mapping(cls, params, "restore")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sampler"], out["degradation"] = asdict(self.sampler), asdict(self.degradation)
        out["user"] = asdict(self.user)
        return out
