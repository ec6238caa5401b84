"""The bus's exception tree."""

from __future__ import annotations


class BusError(Exception):
    """Base of every error raised by bus."""


class TopicError(BusError, ValueError):
    """A topic outside the version 1 contract; the message names the topic."""


class EnvelopeError(BusError, ValueError):
    """A JSON envelope that cannot be read; the message names the field."""


class BrokerUnavailableError(BusError):
    """The broker could not be reached or refused the connection."""
