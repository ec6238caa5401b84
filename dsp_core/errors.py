"""The DSP's exception tree."""

from __future__ import annotations


class DspError(Exception):
    """Base of every error raised by dsp_core."""


class InvalidRequestError(DspError, ValueError):
    """A service request that cannot be read; the message names the field (S4)."""


class IllegalTransitionError(DspError):
    """A tracked request asked to move where its state table does not allow."""

    def __init__(self, role: str, state: str, event: str) -> None:
        super().__init__(f"{role}: event {event!r} is not allowed in state {state!r}")
        self.role = role
        self.state = state
        self.event = event


class StoreError(DspError):
    """The store could not load or commit."""


class InvalidHubStatusError(DspError, ValueError):
    """A message on a hub's status topic that cannot be read; the message names the field."""
