"""The environment files agree: pyproject's dependencies, the lock file and envs/*.yaml."""

from __future__ import annotations

import re
import tomllib

import yaml
from tests.conftest import REPO


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements/lock.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_is_locked_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [
        d for ds in project["optional-dependencies"].values() for d in ds
    ]
    lock = _lock()
    assert not [d for d in deps if _name(d) not in lock]
    assert lock["torch"] == "2.13.0"


def test_conda_env_pins_match_lock():
    lock = _lock()
    for env in (REPO / "envs").glob("*.yaml"):
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        for pin in pip:
            name, version = pin.split("==")
            assert lock[name.lower().replace("_", "-")] == version, (env.name, pin)
        assert "python=3.11" in spec["dependencies"]
