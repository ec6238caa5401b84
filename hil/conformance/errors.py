"""The exception tree of `hil.conformance`."""

from __future__ import annotations

from hil.errors import HilError


class ConformanceError(HilError):
    """A conformance run that cannot go on: no clock on the bus, no broker."""


class TargetError(ConformanceError, ValueError):
    """A conformance target or option that cannot be run; the message names the field."""
