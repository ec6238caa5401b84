"""The exception tree of the device emulators."""

from __future__ import annotations


class EmulatorError(Exception):
    """Base class of every error the emulators raise."""


class IllegalTransitionError(EmulatorError):
    """An event that the device's current state does not allow; names role, state and event."""

    def __init__(self, role: str, state: str, event: str) -> None:
        self.role = role
        self.state = state
        self.event = event
        super().__init__(f"{role}: event {event} is not allowed in state {state}")


class UnsupportedCommandError(IllegalTransitionError):
    """A GBCS command that this kind of device does not serve (the DSP's E11 should stop it)."""


class ConfigError(EmulatorError):
    """A fleet file or fault plan that cannot be used; says which file and field."""
