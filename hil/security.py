"""The service user's side of GBCS security, sans-IO (docs/security.md, "The service
user's side"): a `Signer` turns the pre-command the DSP issued for a Critical SR into
the signed pre-command a CV 5 carries; a `Verifier` gives a `MessageVerdict` on the
GBCS bytes of a device's response or alert (`body.gbcs_payload`).

Implementations on a key store are in `hil.keys`; the campaign, the scenarios, the lab
client and `hil conform` take them as arguments (None: security off, nothing signed,
nothing judged).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from gbcs.security import Protection


class Integrity(StrEnum):
    """What the signatures and MACs of one device message came to."""

    VALID = "valid"  # at least one protection, each checked and good (D-SEC5)
    INVALID = "invalid"  # one failed, none was there, or the bytes did not decode
    UNCHECKED = "unchecked"  # none failed, but a key to check one with was missing


@dataclass(frozen=True, slots=True)
class MessageVerdict:
    """The verdict on one device message: `what` names it ("response 90-B3-...:1:5",
    "alert 8F66"), `reason` says why it is not valid (None when it is)."""

    integrity: Integrity
    what: str
    device_id: str | None
    reason: str | None = None
    protections: tuple[Protection, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return self.integrity is Integrity.VALID

    def to_json(self) -> dict[str, Any]:
        return {
            "integrity": str(self.integrity),
            "what": self.what,
            "device_id": self.device_id,
            "reason": self.reason,
            "protections": [
                {"kind": p.kind, "by": p.by, "valid": p.valid, "reason": p.reason, "note": p.note}
                for p in self.protections
            ],
        }


class Signer(Protocol):
    """Signs pre-commands as a service user (its digital-signing key)."""

    def sign(self, pre_command: bytes, user_id: str) -> bytes:
        """`pre_command` with the General Signing signature of `user_id` appended;
        raises `SigningError` when the user's key is missing or the bytes are not a
        pre-command."""
        ...


class Verifier(Protocol):
    """Checks the signatures and MACs of device messages."""

    def verdict(
        self, data: bytes, *, what: str, device_id: str | None, at: datetime | None = None
    ) -> MessageVerdict:
        """The verdict on the GBCS bytes of a response or alert; never raises for bad
        bytes (they are `INVALID`). `at` is the message's time when its header has none."""
        ...


def judge(protections: Iterable[Protection], *, what: str, device_id: str | None) -> MessageVerdict:
    """The verdict of a message's protections: invalid if one failed or none is there,
    unchecked if one could not be checked, valid otherwise (D-SEC20)."""
    found = tuple(protections)
    failed = [p for p in found if p.valid is False]
    unchecked = [p for p in found if p.valid is None]
    if not found:
        reason = "carries neither a signature nor a MAC"
        return MessageVerdict(Integrity.INVALID, what, device_id, reason, found)
    if failed:
        return MessageVerdict(Integrity.INVALID, what, device_id, _reasons(failed), found)
    if unchecked:
        return MessageVerdict(Integrity.UNCHECKED, what, device_id, _reasons(unchecked), found)
    return MessageVerdict(Integrity.VALID, what, device_id, None, found)


def refused(what: str, device_id: str | None, reason: str) -> MessageVerdict:
    """The verdict on bytes that could not be read as a GBCS message."""
    return MessageVerdict(Integrity.INVALID, what, device_id, reason)


def _reasons(protections: list[Protection]) -> str:
    return "; ".join(f"{p.kind} by {p.by}: {p.reason or 'failed'}" for p in protections)


def device_bytes(body: Mapping[str, Any]) -> bytes | None:
    """The device's GBCS bytes a response or alert body carries (`gbcs_payload`,
    base64); None when there are none, empty bytes when they are not base64 (so that
    they are judged invalid)."""
    found = body.get("gbcs_payload")
    if found is None:
        return None
    if not isinstance(found, str):
        return b""
    try:
        return base64.b64decode(found, validate=True)
    except (binascii.Error, ValueError):
        return b""


def verdict_on(
    verifier: Verifier,
    body: Mapping[str, Any],
    *,
    what: str,
    device_id: str | None,
    at: datetime | None = None,
) -> MessageVerdict | None:
    """The verdict on the device message inside a response or alert body; None when the
    body carries no device bytes (a DSP's own answer: I99, S-codes, 8.2)."""
    data = device_bytes(body)
    if data is None:
        return None
    return verifier.verdict(data, what=what, device_id=device_id, at=at)
