"""The shared settings builder and value checks: each error names the section and the key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from flowem.errors import ConfigError
from flowem.settings import (
    check_at_least,
    check_choice,
    check_interval,
    check_positive,
    from_mapping,
    require,
    resolve_params,
)


@dataclass(frozen=True)
class Knobs:
    steps: int = 3
    rate: float = 0.5

    def __post_init__(self) -> None:
        check_at_least(self, "stage", 1, "steps")
        check_interval(self, "stage", "rate", 0, 1, open_low=True)


def test_from_mapping_builds_and_names_unknown_and_bad_keys():
    assert from_mapping(Knobs, {"steps": 5}, "stage") == Knobs(steps=5)
    with pytest.raises(ConfigError, match=r"stage: unknown keys \['stepz'\]; known: \['rate'"):
        from_mapping(Knobs, {"stepz": 5}, "stage")
    with pytest.raises(ConfigError, match=r"stage\.steps must be >= 1, got 0"):
        from_mapping(Knobs, {"steps": 0}, "stage")
    with pytest.raises(ConfigError, match=r"stage\.rate must be in \(0, 1\], got 0"):
        from_mapping(Knobs, {"rate": 0}, "stage")


def test_resolve_params_fills_defaults_and_refuses_unknown_keys():
    assert resolve_params({"a": 2}, {"a": 1, "b": 3}, "s") == {"a": 2, "b": 3}
    with pytest.raises(ConfigError, match=r"s: unknown keys \['c'\]"):
        resolve_params({"c": 1}, {"a": 1}, "s")


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda p: check_positive(p, "s", "size"), r"s\.size must be > 0, got 0"),
        (lambda p: check_positive(p, "s", "flag"), r"s\.flag must be > 0, got True"),
        (lambda p: check_at_least(p, "s", 2, "name"), r"s\.name must be >= 2, got 'x'"),
        (lambda p: check_choice(p, "s", "name", ("a", "b")), r"s\.name must be one of a, b"),
        (lambda p: check_interval(p, "s", "size", 0, 1, open_low=True), r"in \(0, 1\], got 0"),
        (lambda p: require(False, "s", "a reason"), r"^s: a reason$"),
    ],
)
def test_checks_read_mappings_and_name_the_key(check, message):
    params = {"size": 0, "flag": True, "name": "x"}
    with pytest.raises(ConfigError, match=message):
        check(params)


def test_checks_pass_good_values():
    params = {"size": 1, "rate": 1.0, "name": "a"}
    check_positive(params, "s", "size", "rate")
    check_at_least(params, "s", 1, "size")
    check_interval(params, "s", "rate", 0, 1)
    check_choice(params, "s", "name", ("a",))
    with pytest.raises(ConfigError):
        check_interval(params, "s", "rate", 0, 1, open_high=True)
