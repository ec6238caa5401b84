"""A payload the codec does not model, kept as the bytes that came."""

from __future__ import annotations

from typing import Any

from contract.records import record


@record
class RawPayload:
    data: bytes

    def to_bytes(self) -> bytes:
        return self.data

    def fields(self) -> dict[str, Any]:
        return {"payload_hex": self.data.hex().upper()}
