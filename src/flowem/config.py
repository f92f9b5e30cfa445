"""Configuration: load YAML, validate against the JSON schema, fill defaults.

Validation uses ``jsonschema`` (the library Snakemake's own ``validate`` wraps) so the same
check runs in the Snakefile, in the tests and from Python; every error names the key.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from flowem.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; anything else is a :class:`ConfigError` naming the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return data


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive merge: mappings merge key by key, everything else is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _allowed_keys(subschema: Mapping[str, Any], root: Mapping[str, Any]) -> list[str]:
    """Keys a mapping may hold: its own properties and those of a local ``$ref``."""
    keys = set(subschema.get("properties", {}))
    ref = subschema.get("$ref", "")
    if ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        keys |= set(node.get("properties", {}))
    return sorted(keys)


def _message(error: jsonschema.ValidationError, root: Mapping[str, Any]) -> str:
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = _allowed_keys(error.schema, root)
        unknown = sorted(set(error.instance) - set(allowed))
        where = _key_path(error)
        keys = ", ".join(f"'{k}'" if where == "<top level>" else f"'{where}.{k}'" for k in unknown)
        return f"unknown config key {keys}; allowed here: {', '.join(allowed)}"
    if error.validator == "oneOf":
        return f"config key '{_key_path(error)}': {error.instance!r} is not a valid value"
    return f"config key '{_key_path(error)}': {error.message}"


def _fill_defaults(instance: dict[str, Any], schema: Mapping[str, Any]) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(instance[key], sub)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    return load_yaml(path)


def validate(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return a validated copy of ``config`` with every default filled in.

    Raises :class:`ConfigError` listing each invalid or unknown key by its dotted path.
    """
    schema = load_schema() if schema is None else schema
    resolved = copy.deepcopy(dict(config))
    _fill_defaults(resolved, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(resolved), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(
            "invalid configuration:\n  " + "\n  ".join(_message(e, schema) for e in errors)
        )
    return resolved


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Merge the YAML files in order (later ones override) and validate the result."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged = merge(merged, load_yaml(path))
    return validate(merged)
