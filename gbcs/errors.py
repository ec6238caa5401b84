"""The exception tree of the GBCS codec."""

from __future__ import annotations

from contract.errors import SmetslabError


class GbcsError(SmetslabError):
    """Base class of every error the codec raises."""


class GbcsDecodeError(GbcsError, ValueError):
    """Bytes that are not a well-formed message; names the offset and what was expected."""

    def __init__(self, offset: int, expected: str, found: str | None = None) -> None:
        self.offset = offset
        self.expected = expected
        self.found = found
        text = f"at offset {offset}: expected {expected}"
        if found is not None:
            text += f", found {found}"
        super().__init__(text)


class GbcsEncodeError(GbcsError, ValueError):
    """A message object that cannot be written as GBCS bytes."""


class GbcsSecurityError(GbcsError):
    """A signature or MAC that is absent, malformed or wrong, or a key that cannot be used.

    The text names what failed: which signature or MAC, whose key (EUI-64 in the DUIS
    form) and for which use, and the message's originator, recipient and counter."""


class KeyStoreError(GbcsSecurityError):
    """A key store that cannot be read, or a key it does not hold; names the entity
    (DUIS form) and the use, and the file for a malformed store."""
