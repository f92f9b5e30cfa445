"""Exceptions that the command line turns into a one-line message and a non-zero exit."""

from __future__ import annotations

from pathlib import Path


class FlowemError(Exception):
    """Base class: an error the user can act on (bad input, bad config, missing data)."""


class InputFileError(FlowemError):
    """A file that cannot be used: missing, corrupt, truncated, wrong shape or non-finite."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ConfigError(FlowemError):
    """A configuration key or value that is invalid."""


class FetchError(FlowemError):
    """A data file that could not be found in the cache or mirrors, or downloaded."""


class ChecksumError(FetchError):
    """A file whose sha256 differs from the registry's."""
