"""The exception tree of the device emulators."""

from __future__ import annotations

from contract.errors import IllegalTransitionError, SmetslabError


class EmulatorError(SmetslabError):
    """Base class of every error the emulators raise."""


class UnsupportedCommandError(EmulatorError, IllegalTransitionError):
    """A GBCS command that this kind of device does not serve (the DSP's E11 should stop it)."""


class ConfigError(EmulatorError):
    """A fleet file or fault plan that cannot be used; says which file and field."""
