"""The bus's exception tree."""

from __future__ import annotations

from contract.errors import SmetslabError


class BusError(SmetslabError):
    """Base of every error raised by bus."""


class EnvelopeError(BusError, ValueError):
    """A JSON envelope that cannot be read; the message names the field."""


class BrokerUrlError(BusError, ValueError):
    """A broker URL that is not `mqtt://host:port`; names the URL."""


class BrokerUnavailableError(BusError):
    """The broker could not be reached or refused the connection."""
