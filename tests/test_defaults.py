"""Defaults are written twice, in the schema (for the pipeline) and in the code (for a library
call): :data:`flowem.settings.SECTIONS` pairs them, and these tests keep them equal, so that a
library call and a pipeline run of the same section behave the same."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from tests.conftest import REPO

from flowem.config import load_config, load_schema
from flowem.errors import ConfigError
from flowem.settings import SECTIONS, Section, build, code_defaults

SCHEMA = load_schema()
REGISTERED = {section.path for section in SECTIONS}
#: schema mappings holding only what the workflow reads, or only further sections
WORKFLOW_ONLY = {"", "prior", "prior.phase", "prior.em", "baselines", "tuning.grids", "sip"}
WORKFLOW_ONLY |= {"ablations", "cluster", "cluster.cpu", "cluster.gpu"}
MISSING = object()


def resolved(node: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with the properties of its local ``$ref`` merged in."""
    ref = node.get("$ref", "")
    if not ref.startswith("#/"):
        return dict(node)
    target: Any = SCHEMA
    for part in ref[2:].split("/"):
        target = target[part]
    properties = {**target.get("properties", {}), **node.get("properties", {})}
    return {**target, **node, "properties": properties}


def schema_node(path: str) -> dict[str, Any]:
    node = resolved(SCHEMA)
    for part in filter(None, path.split(".")):
        node = resolved(node["properties"][part])
    return node


def schema_default(path: str) -> Any:
    section, _, key = path.rpartition(".")
    return schema_node(section)["properties"][key].get("default", MISSING)


def plain(value: Any) -> Any:
    """Tuples as lists (YAML and JSON have none), recursively."""
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def same(a: Any, b: Any) -> bool:
    """Equal as config values: 30 and 30.0 are, ``true`` and 1 are not."""
    return isinstance(a, bool) == isinstance(b, bool) and plain(a) == plain(b)


def mappings(node: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Dotted paths of every schema mapping with named properties."""
    node = resolved(node)
    if node.get("properties"):
        yield path
    for key, sub in node.get("properties", {}).items():
        yield from mappings(sub, f"{path}.{key}".lstrip("."))


def mismatches(section: Section) -> list[str]:
    """One line per key on which the schema and the code disagree, naming the key."""
    schema = schema_node(section.path)["properties"]
    code = code_defaults(section)
    where = section.path
    problems = [
        f"{where}.{key}: in the schema, not in the code ({', '.join(section.code)})"
        for key in sorted(set(schema) - set(code) - set(section.workflow_keys))
    ]
    problems += [
        f"{where}.{key}: in the code (default {code[key]!r}), not in the schema"
        for key in sorted(set(code) - set(schema) - set(section.filled_in))
    ]
    problems += [
        f"{where}.{key}: read by the code, yet listed as a workflow key"
        for key in sorted(set(section.workflow_keys) & set(code))
    ]
    for key in sorted(set(schema) & set(code)):
        default = schema[key].get("default", MISSING)
        nested = f"{where}.{key}" in REGISTERED  # compared as a section of its own
        if default is not MISSING and not nested and not same(default, code[key]):
            problems.append(f"{where}.{key}: schema {default!r}, code {code[key]!r}")
    for key, home in section.filled_in.items():
        default = MISSING if home is None else schema_default(home)
        if default is not MISSING and not same(default, code[key]):
            problems.append(f"{where}.{key}: code {code[key]!r}, schema ({home}) {default!r}")
    return problems


@pytest.mark.parametrize("section", SECTIONS, ids=lambda section: section.path)
def test_schema_and_code_defaults_agree(section):
    problems = mismatches(section)
    assert not problems, "\n".join(problems)


def test_every_schema_section_is_registered_or_read_by_the_workflow_only():
    sections = set(mappings(SCHEMA))
    unpaired = sorted(sections - REGISTERED - WORKFLOW_ONLY)
    assert not unpaired, f"schema sections without code defaults in flowem.settings: {unpaired}"
    assert REGISTERED <= sections


def test_a_drifted_default_is_named():
    section = next(s for s in SECTIONS if s.path == "baselines.wiener")
    drifted = dataclasses.replace(section, code=("flowem.flowdps.settings:RUN_DEFAULTS",))
    problems = "\n".join(mismatches(drifted))
    assert "baselines.wiener.snr: in the schema, not in the code" in problems
    assert "baselines.wiener.samples: in the code (default 4), not in the schema" in problems
    section = next(s for s in SECTIONS if s.path == "prior.phase.sample")
    drifted = dataclasses.replace(section, path="prior.phase.train")
    assert "prior.phase.train.steps" not in "\n".join(mismatches(drifted))  # no schema default
    assert "prior.phase.train.solver: in the code" in "\n".join(mismatches(drifted))


def test_same_tells_booleans_from_numbers():
    assert same(1, 1.0) and same((16, 32), [16, 32]) and same(True, True)
    assert not same(True, 1) and not same(0, False) and not same(30, 50)


@pytest.mark.parametrize(
    "extra", [(), ("paper.yaml",), ("test.yaml",), ("paper.yaml", "paper-smoke.yaml")]
)
def test_every_shipped_config_passes_the_code_checks_too(extra):
    config = load_config(REPO / "config/config.yaml", *(REPO / "config" / f for f in extra))
    for section in SECTIONS:
        values = config
        for part in section.path.split("."):
            values = values[part]
        built = build(section.path, values)
        for key in set(values) - set(section.workflow_keys):
            value = built[key] if isinstance(built, Mapping) else getattr(built, key)
            if not dataclasses.is_dataclass(value):
                assert same(value, values[key]), f"{section.path}.{key}"


def test_build_names_the_section_and_key():
    with pytest.raises(ConfigError, match=r"restore\.sampler: unknown keys \['stepz'\]"):
        build("restore.sampler", {"stepz": 3})
    with pytest.raises(ConfigError, match=r"report: unknown keys \['tittle'\]"):
        build("report", {"tittle": "x"})
    with pytest.raises(ConfigError, match=r"baselines\.iterative\.restarts must be >= 1"):
        build("baselines.iterative", {"restarts": 0})
    with pytest.raises(ConfigError, match="sip: not a config section"):
        build("sip", {})


def test_the_rivals_budget_is_one_list_and_one_set_of_defaults():
    """``BUDGET_KEYS`` (read by the workflow without torch) names exactly the fields of
    ``TrainingBudget``, and the prior and a supervised network start from the same budget."""
    from dataclasses import fields

    from flowem.prior.settings import TrainingBudget, TrainSettings
    from flowem.restore.supervised import SupervisedSettings
    from flowem.settings import BUDGET_KEYS

    assert BUDGET_KEYS == tuple(f.name for f in fields(TrainingBudget))
    prior, supervised = TrainSettings().to_dict(), SupervisedSettings().to_dict()
    assert {k: prior[k] for k in BUDGET_KEYS} == {k: supervised[k] for k in BUDGET_KEYS}
