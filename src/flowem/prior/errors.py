"""Errors raised by the prior package."""

from __future__ import annotations

from flowem.errors import FlowemError


class TrainingDivergedError(FlowemError):
    """The loss or the gradient norm became non-finite; the last good checkpoint is kept."""


class CheckpointMismatchError(FlowemError):
    """A checkpoint does not fit the requested network architecture."""
