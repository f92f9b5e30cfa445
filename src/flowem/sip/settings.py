"""Parameters of ``sip-fit`` per experiment (the ``--params`` JSON, i.e. ``sip.<experiment>``).

Defaults are the default (2-CPU, 30-minute pipeline) profile; the paper's values are noted per
field and set in ``config/paper.yaml``. Unknown keys, unknown losses and non-positive sizes,
rates or bandwidths are a :class:`ConfigError`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, TypeVar

from flowem.errors import ConfigError
from flowem.settings import (
    check_at_least,
    check_choice,
    check_positive,
    from_mapping,
    require,
)
from flowem.sip.losses import LOSS_NAMES

EXPERIMENTS = ("1d", "nanocluster", "protein")
#: the methods an image experiment can compare beside its main flow: particle flows of each
#: loss, the WGAN-GP critic on the particles or on a generator network, the amortised VAE
METHOD_NAMES = (*LOSS_NAMES, "critic", "generator", "vae")
#: an image experiment's main ``loss``: a particle flow's loss, or the adversarial (WGAN-GP)
#: critic on the particles or on a generator network
IMAGE_LOSSES = (*LOSS_NAMES, "critic", "generator")
T = TypeVar("T", bound="FlowSettings")


@dataclass(frozen=True)
class FlowSettings:
    """Keys shared by every experiment."""

    loss: str = "energy"
    n_observed: int = 1000
    n_particles: int = 1000
    iterations: int = 1000
    #: Adam learning rate, one number or one per parameter
    lr: float | list[float] = 0.01
    #: observed images per iteration (None: all)
    batch_size: int | None = None
    #: kernel width for mmd / kl ("auto": median heuristic / Silverman) in data units
    bandwidth: float | str = "auto"
    chunk_size: int = 1024
    log_every: int = 100
    baseline_states: int = 8
    baseline_iterations: int = 300
    baseline_lr: float = 0.05
    device: str = "cpu"
    #: the values ``loss`` may take
    LOSSES: ClassVar[tuple[str, ...]] = LOSS_NAMES

    def __post_init__(self) -> None:
        check_choice(self, "sip", "loss", self.LOSSES)
        if isinstance(self.bandwidth, str):
            require(
                self.bandwidth == "auto",
                "sip",
                f"bandwidth must be 'auto' or a number > 0, got {self.bandwidth!r}",
            )
        else:
            check_positive(self, "sip", "bandwidth")
        if isinstance(self.lr, list):
            rates_ok = bool(self.lr) and all(isinstance(r, int | float) and r > 0 for r in self.lr)
            require(rates_ok, "sip", f"lr must be > 0, one value or one per parameter: {self.lr}")
        else:
            check_positive(self, "sip", "lr")
        check_positive(self, "sip", "baseline_lr")
        counts = ("n_observed", "n_particles", "iterations", "chunk_size", "log_every")
        check_at_least(self, "sip", 1, *counts, "baseline_states")
        check_at_least(self, "sip", 0, "baseline_iterations")
        if self.batch_size is not None:
            check_at_least(self, "sip", 1, "batch_size")

    @property
    def kernel_bandwidth(self) -> float | None:
        return None if self.bandwidth == "auto" else float(self.bandwidth)

    @classmethod
    def from_params(cls: type[T], params: dict[str, Any], section: str = "sip") -> T:
        return from_mapping(cls, params, section)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OneDSettings(FlowSettings):
    """1D deconvolution at the paper's sizes (n = 10^4 observations and particles, 25,000
    iterations, energy and KL); the default profile's sigma sweep has 3 sigmas, a 5x larger
    learning rate and a cap of 3,000 iterations (the paper profile's: 5 sigmas, 25,000)."""

    losses: list[str] = field(default_factory=lambda: ["energy", "kl"])
    sigma: float = 1.5
    n_observed: int = 10_000
    n_particles: int = 10_000
    iterations: int = 25_000
    lr: float | list[float] = 0.002
    log_every: int = 500
    kde_bins: int = 2048
    w1_reference_size: int = 1_000_000
    sweep_sigmas: list[float] = field(default_factory=lambda: [1.0, 1.5, 2.0])
    sweep_target_w1: float = 0.2
    sweep_max_iterations: int = 3000
    sweep_check_every: int = 50
    #: learning rate of the sweep (None: ``lr``)
    sweep_lr: float | None = 0.01
    baseline_states: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [name for name in self.losses if name not in LOSS_NAMES]
        if not self.losses or bad:
            raise ConfigError(f"sip.losses must be a non-empty subset of {LOSS_NAMES}, got {bad}")
        check_positive(self, "sip", "sigma", "sweep_target_w1")
        require(all(s > 0 for s in self.sweep_sigmas), "sip", "every sweep sigma must be > 0")
        check_at_least(self, "sip", 1, "sweep_check_every", "kde_bins", "w1_reference_size")
        check_at_least(self, "sip", 0, "sweep_max_iterations")
        if self.sweep_lr is not None:
            check_positive(self, "sip", "sweep_lr")


@dataclass(frozen=True)
class ImageSettings(FlowSettings):
    """The image experiments' method comparison (issue 19): ``methods`` run on the same
    observed images as the main flow and the baseline, each with its own stated budget.

    ``critic`` / ``generator``: ``adversarial_iterations`` generator steps, each after
    ``n_critic`` critic steps (WGAN-GP, penalty weight ``gp_weight``) on minibatches of
    ``adversarial_batch_size``; the generator's Adam rate ``adversarial_lr`` is in units of the
    initial law's spread per parameter (``generator_lr``: the network's weights); the
    recovered law is the generator's weight average (decay ``adversarial_average``).
    ``vae``: ``vae_iterations`` Adam steps on the ELBO.
    The critic and the encoder average-pool images by ``critic_pool`` first. Parameter-space
    intervals: ``bootstrap_replicates`` bootstrap resamples of both sets.

    Default budgets fit about 25 CPU-seconds per experiment (the nanocluster's: 60 generator
    steps of 3 critic steps on 16 x 16 pooled images, 300 VAE steps); ``config/paper.yaml``
    sets the paper-scale ones."""

    LOSSES: ClassVar[tuple[str, ...]] = IMAGE_LOSSES
    methods: list[str] = field(default_factory=lambda: ["critic", "generator", "vae"])
    adversarial_iterations: int = 60
    n_critic: int = 3
    gp_weight: float = 10.0
    adversarial_batch_size: int = 32
    adversarial_lr: float = 0.05
    critic_lr: float = 0.001
    critic_channels: int = 8
    critic_pool: int = 8
    #: decay of the generator's weight average, the recovered law (0: the last iterate)
    adversarial_average: float = 0.9
    generator_hidden: int = 64
    #: Adam rate of the generator network's weights
    generator_lr: float = 0.003
    vae_iterations: int = 300
    vae_lr: float = 0.003
    vae_batch_size: int = 64
    bootstrap_replicates: int = 200

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [name for name in self.methods if name not in METHOD_NAMES]
        require(not bad, "sip", f"methods must be among {METHOD_NAMES}, got {bad}")
        counts = ("n_critic", "adversarial_batch_size", "critic_channels", "critic_pool")
        check_at_least(self, "sip", 1, *counts, "generator_hidden", "vae_batch_size")
        check_at_least(self, "sip", 0, "adversarial_iterations", "vae_iterations")
        check_at_least(self, "sip", 2, "bootstrap_replicates")
        rates = ("adversarial_lr", "generator_lr", "critic_lr", "vae_lr")
        check_positive(self, "sip", "gp_weight", *rates)
        require(0 <= self.adversarial_average < 1, "sip", "adversarial_average must be in [0, 1)")


@dataclass(frozen=True)
class NanoclusterSettings(ImageSettings):
    """Four-atom nanocluster: n = 1000 images, 3,000 iterations, energy distance (the paper's).

    A flow iteration costs about ``N (N + M)`` image dot products (the GEMMs of the energy
    distance, forward and backward) for N particles and a minibatch of M observed images; the
    default's 64 particles against 128-image minibatches fit the 2-CPU budget, and the paper
    profile's 1000 particles against all 1000 images need a GPU."""

    sigma: float = 1.5
    tau: float = 0.5
    grid_size: int = 128
    n_observed: int = 1000
    n_particles: int = 64
    batch_size: int | None = 128
    iterations: int = 3000
    lr: float | list[float] = 0.02
    baseline_states: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "sip.nanocluster", "sigma", "tau")
        check_at_least(self, "sip.nanocluster", 2, "grid_size")


@dataclass(frozen=True)
class ProteinSettings(ImageSettings):
    """Hsp90 normal modes (paper: 3,000 images, 9 x 10^4 iterations).

    The default's 128 particles against 128-image minibatches for 60 iterations: with 32
    particles the parameter distance's noise floor (std ~2) is as large as the whole
    reduction; with 128 it is ~0.5 and the reduction (seed 0: 12.5 -> 9.1) is ~7 floor stds.
    The flow is not converged (it stalls near 9-10: the particles diffuse at this rate)."""

    structure: str = "pdb/2cg9.pdb"
    chains: str = "AB"
    cutoff_a: float = 15.0
    n_modes: int = 4
    pixel_size_a: float = 2.4
    grid_size: int = 64
    atom_sigma_a: float = 2.0
    noise_sigma: float = 1.0
    signal_rms: float = 1.0
    n_observed: int = 3000
    n_particles: int = 128
    batch_size: int | None = 128
    iterations: int = 60
    lr: float | list[float] = 2.0
    log_every: int = 20
    baseline_states: int = 4
    baseline_rotations: int = 32
    baseline_iterations: int = 30
    baseline_batch_size: int = 64
    pca_images: int = 300
    # a protein simulation costs ~30x a nanocluster one (1,227 atoms per image): the default
    # budgets are token ones (about 20 CPU-seconds for the three methods), pooled to 32 x 32
    critic_pool: int = 2
    adversarial_iterations: int = 15
    adversarial_batch_size: int = 16
    vae_iterations: int = 60
    vae_batch_size: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        section = "sip.protein"
        check_positive(self, section, "cutoff_a", "pixel_size_a", "atom_sigma_a", "signal_rms")
        check_positive(self, section, "noise_sigma")
        check_at_least(self, section, 1, "n_modes", "baseline_rotations", "baseline_batch_size")
        check_at_least(self, section, 1, "pca_images")
        check_at_least(self, section, 2, "grid_size")
        require(bool(self.chains), section, "chains must name at least one chain")


SETTINGS: dict[str, type[FlowSettings]] = {
    "1d": OneDSettings,
    "nanocluster": NanoclusterSettings,
    "protein": ProteinSettings,
}


def settings_for(experiment: str, params: dict[str, Any]) -> FlowSettings:
    """Validated settings of ``experiment`` from its ``--params`` mapping."""
    if experiment not in SETTINGS:
        raise ConfigError(f"unknown SIP experiment {experiment!r}; choose one of {EXPERIMENTS}")
    return SETTINGS[experiment].from_params(params, f"sip.{experiment}")
