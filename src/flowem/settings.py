"""A stage's settings from its config section: one builder, shared value checks, one registry.

A default lives in the stage's settings dataclass (or defaults dict); the schema's ``default``
repeats it for the pipeline, and ``tests/test_defaults.py`` walks :data:`SECTIONS` so the two
never drift. Every check raises :class:`ConfigError` naming the section and the key.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from flowem.errors import ConfigError

T = TypeVar("T")


def reject_unknown(values: Mapping[str, Any], known: Iterable[str], section: str) -> None:
    """Raise :class:`ConfigError` naming every key of ``values`` not in ``known``."""
    known = sorted(known)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{section}: unknown keys {unknown}; known: {known}")


def from_mapping(cls: type[T], values: Mapping[str, Any], section: str) -> T:
    """Instantiate dataclass ``cls`` from ``values``, naming ``section`` in errors."""
    reject_unknown(values, (f.name for f in fields(cls)), section)  # type: ignore[arg-type]
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{section}: {exc}") from exc


def resolve_params(
    params: Mapping[str, Any], defaults: Mapping[str, Any], section: str
) -> dict[str, Any]:
    """``defaults`` overridden by ``params``; a key not in ``defaults`` is a ConfigError."""
    reject_unknown(params, defaults, section)
    return {**defaults, **params}


def _value(settings: Any, name: str) -> Any:
    return settings[name] if isinstance(settings, Mapping) else getattr(settings, name)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require(condition: bool, section: str, message: str) -> None:
    """Raise :class:`ConfigError` ``"<section>: <message>"`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{section}: {message}")


def check_at_least(settings: Any, section: str, minimum: float, *names: str) -> None:
    """Every named value of ``settings`` (a dataclass or a mapping) is a number >= ``minimum``."""
    for name in names:
        value = _value(settings, name)
        if not _number(value) or value < minimum:
            raise ConfigError(f"{section}.{name} must be >= {minimum}, got {value!r}")


def check_positive(settings: Any, section: str, *names: str) -> None:
    """Every named value of ``settings`` (a dataclass or a mapping) is a number > 0."""
    for name in names:
        value = _value(settings, name)
        if not _number(value) or not value > 0:
            raise ConfigError(f"{section}.{name} must be > 0, got {value!r}")


def check_interval(
    settings: Any,
    section: str,
    name: str,
    low: float,
    high: float,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> None:
    """``settings.<name>`` lies between ``low`` and ``high`` (each end closed unless open)."""
    value = _value(settings, name)
    above = _number(value) and (value > low if open_low else value >= low)
    below = _number(value) and (value < high if open_high else value <= high)
    if not (above and below):
        span = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ConfigError(f"{section}.{name} must be in {span}, got {value!r}")


def check_choice(settings: Any, section: str, name: str, choices: Iterable[Any]) -> None:
    """``settings.<name>`` is one of ``choices``."""
    value, choices = _value(settings, name), tuple(choices)
    if value not in choices:
        options = ", ".join(map(str, choices))
        raise ConfigError(f"{section}.{name} must be one of {options}, got {value!r}")


@dataclass(frozen=True)
class Section:
    """Where the defaults of the config section ``path`` live in code.

    ``code`` lists ``"module:Name"`` targets (a dataclass, a mapping of defaults, or a field of
    a dataclass holding a nested section, ``"module:Class.field"``) whose keys together make
    the section. ``workflow_keys`` are schema keys only the workflow reads; ``filled_in`` maps
    code keys the workflow fills from another config key to that key's path (None: from none).
    """

    path: str
    code: tuple[str, ...]
    workflow_keys: tuple[str, ...] = ()
    filled_in: Mapping[str, str | None] = field(default_factory=dict)


def _shared(keys: Iterable[str], home: str) -> dict[str, str]:
    return {key: f"{home}.{key}" for key in keys}


_STRUCTURE = _shared(("hydrogens", "waters"), "structure")
_GEOMETRY = _shared(
    (
        "size_px",
        "pixel_size_a",
        "bin_factor",
        "voltage_kv",
        "b_factor_a2",
        "solvent",
        "pad_factor",
        "interpolation_order",
    ),
    "phase_maps",
)

#: the training budget that the EM prior's rivals share with it (the supervised networks read
#: these keys of ``prior.em.train``): the fields of ``flowem.prior.settings.TrainingBudget``,
#: named here without importing torch (the workflow reads this list; a test keeps them equal)
BUDGET_KEYS = (
    "network", "steps", "batch_size", "lr", "warmup_steps", "grad_clip", "ema_decay", "rotate",
    "bf16", "log_every", "checkpoint_every", "device",
)  # fmt: skip

#: every config section that a stage reads, and where its defaults live in code
SECTIONS: tuple[Section, ...] = (
    Section("data", ("flowem.fetch.command:DEFAULTS",), workflow_keys=("niqe_model",)),
    Section("structure", ("flowem.data.structure:DEFAULTS",), workflow_keys=("pdb_id",)),
    Section("phase_maps", ("flowem.data.phase_maps:DEFAULTS",), filled_in=_STRUCTURE),
    Section(
        "particles",
        ("flowem.data.particles:DEFAULTS",),
        workflow_keys=("mismatch",),
        filled_in={**_STRUCTURE, **_GEOMETRY},
    ),
    Section("particles.mismatch", ("flowem.data.mismatch:DEFAULTS",), filled_in=_STRUCTURE),
    Section(
        "real_particles",
        ("flowem.data.preprocess:DEFAULTS",),
        workflow_keys=("enabled", "name", "stack", "star"),
        filled_in={"source": "real_particles.name"},
    ),
    Section("calibration", ("flowem.data.calibration:DEFAULTS",)),
    *(
        Section(f"prior.{kind}.{part}", (f"flowem.prior.settings:{target}",))
        for kind in ("phase", "em")
        for part, target in (
            ("train", "TrainSettings"),
            ("train.network", "TrainSettings.network"),
            ("sample", "SampleSettings"),
        )
    ),
    Section(
        "flowdps", ("flowem.flowdps.settings:RUN_DEFAULTS", "flowem.posterior:FlowDPSSettings")
    ),
    Section("baselines.wiener", ("flowem.flowdps.settings:WIENER_DEFAULTS",)),
    # evaluations: filled in from baselines.evaluations (flowem.flowdps.budget)
    Section(
        "baselines.iterative",
        ("flowem.retrieval:IterativeSettings",),
        filled_in={"evaluations": None},
    ),
    Section(
        "baselines.poisson_tv",
        ("flowem.retrieval:PoissonTVSettings",),
        filled_in={"evaluations": None},
    ),
    Section("tuning", ("flowem.flowdps.tune:DEFAULTS",), workflow_keys=("grids",)),
    Section(
        "evaluation",
        ("flowem.flowdps.evaluate:DEFAULTS",),
        workflow_keys=("dose_sweep",),
        filled_in={"prior_molecule": None},
    ),
    Section("em_patches", ("flowem.restore.patches:PatchSettings",), workflow_keys=("volume",)),
    Section(
        "em_corpus",
        ("flowem.restore.corpus:CorpusSettings",),
        workflow_keys=("leave_one_out", "in_default"),
    ),
    Section("restore", ("flowem.restore.settings:RestoreSettings",)),
    Section("restore.sampler", ("flowem.restore.settings:RestoreSettings.sampler",)),
    Section("restore.degradation", ("flowem.restore.settings:RestoreSettings.degradation",)),
    Section("restore.user", ("flowem.restore.settings:RestoreSettings.user",)),
    Section(
        "supervised",
        ("flowem.restore.supervised:SupervisedSettings",),
        workflow_keys=("tasks", "in_restore"),
        filled_in={
            "task": None,
            "degradation": None,  # restore.degradation, compared as its own section
            "train_slices": "em_patches.train_slices",
            **_shared(BUDGET_KEYS, "prior.em.train"),
        },
    ),
    Section("sip.1d", ("flowem.sip.settings:OneDSettings",)),
    Section("sip.nanocluster", ("flowem.sip.settings:NanoclusterSettings",)),
    Section("sip.protein", ("flowem.sip.settings:ProteinSettings",)),
    Section("report", ("flowem.report.build:DEFAULTS",), filled_in={"scale": None, "config": None}),
)


def _field_default(cls: type, name: str) -> Any:
    spec = {f.name: f for f in fields(cls)}[name]
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    if spec.default is dataclasses.MISSING:
        raise ConfigError(f"{cls.__name__}.{name} has no default")
    return spec.default


def _target(target: str) -> Any:
    module, _, names = target.partition(":")
    obj: Any = importlib.import_module(module)
    first, *rest = names.split(".")
    obj = getattr(obj, first)
    for name in rest:
        obj = _field_default(obj, name) if isinstance(obj, type) else getattr(obj, name)
    return obj


def code_defaults(section: Section) -> dict[str, Any]:
    """The section's defaults as the code holds them (nested sections as their objects)."""
    out: dict[str, Any] = {}
    for target in section.code:
        obj = _target(target)
        if isinstance(obj, Mapping):
            out.update(obj)
        elif isinstance(obj, type):
            out.update({f.name: _field_default(obj, f.name) for f in fields(obj)})
        else:
            out.update({f.name: getattr(obj, f.name) for f in fields(obj)})
    return out


def build(path: str, values: Mapping[str, Any]) -> Any:
    """The settings of config section ``path`` from its ``values`` (workflow keys dropped).

    A section held by one dataclass gives that dataclass, checked; any other gives its
    defaults updated by ``values``. Either way an unknown key is a :class:`ConfigError`.
    """
    spec = next((s for s in SECTIONS if s.path == path), None)
    if spec is None:
        raise ConfigError(f"{path}: not a config section with settings in the code")
    values = {k: v for k, v in values.items() if k not in spec.workflow_keys}
    holder = _target(spec.code[0])
    if len(spec.code) == 1 and not isinstance(holder, Mapping):
        return from_mapping(holder if isinstance(holder, type) else type(holder), values, path)
    return resolve_params(values, code_defaults(spec), path)
