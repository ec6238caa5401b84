"""Entity IDs and request IDs (DESIGN §3).

Topics carry an EUI-64 as 16 upper-case hex digits (`00DB1234567890A0`); payloads and
everything inside the DSP use the DUIS form `00-DB-12-34-56-78-90-A0`. `to_duis` and
`to_compact` convert either way and refuse anything else.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .errors import InvalidIdError, InvalidRequestError, TopicError
from .records import record

# The DCC's own party, the Access Control Broker: target of non-device SRs and the
# originator of the commands the DSP signs itself (CS08, distribution; D8).
DCC_ACCESS_CONTROL_BROKER = "90-B3-D5-1F-30-00-00-02"

# The largest originator counter the DSP keeps: a signed 64-bit integer (SQLite's
# INTEGER, PostgreSQL's BIGINT); GBCS's 8-byte counters above it are refused (D-P2).
MAX_COUNTER = (1 << 63) - 1

_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")
_DUIS = re.compile(r"([0-9A-Fa-f]{2}-){7}[0-9A-Fa-f]{2}")
_TOPIC_ID = re.compile(r"[0-9A-F]{16}")


@lru_cache(maxsize=1 << 16)
def to_duis(value: str) -> str:
    """`00DB1234567890A0` or `00-db-…` → `00-DB-12-34-56-78-90-A0`; anything else raises."""
    if _HEX16.fullmatch(value):
        return bytes.fromhex(value).hex("-").upper()
    if _DUIS.fullmatch(value):
        return value.upper()
    raise InvalidIdError(f"{value!r} is not an EUI-64 (00-DB-12-34-56-78-90-A0)")


def to_compact(value: str) -> str:
    return to_duis(value).replace("-", "")


@lru_cache(maxsize=1 << 16)
def to_bytes(value: str) -> bytes:
    return bytes.fromhex(to_compact(value))


def check_eui64(value: str, what: str = "ID") -> str:
    """An EUI-64 as topics carry it: 16 upper-case hex digits."""
    if not _TOPIC_ID.fullmatch(value):
        raise TopicError(f"{what} {value!r} is not an EUI-64 of 16 upper-case hex digits")
    return value


@record
class RequestId:
    """`BusinessOriginatorID:BusinessTargetID:OriginatorCounter`."""

    originator: str
    target: str
    counter: int

    @classmethod
    def parse(cls, text: str) -> RequestId:
        parts = text.split(":")
        if len(parts) != 3:
            raise InvalidRequestError(
                f"request_id {text!r} is not BusinessOriginatorID:BusinessTargetID:Counter"
            )
        originator, target, counter = parts
        # ASCII digits only: `str.isdigit` takes '²', which `int` refuses (issue 18).
        if not (counter.isascii() and counter.isdigit()) or len(counter) > 20:
            raise InvalidRequestError(
                f"request_id {text!r}: counter {counter!r} is not a decimal integer"
            )
        if int(counter) > MAX_COUNTER:
            # GBCS counters are 8 bytes, the store's integers signed (issue 18, D-P2)
            raise InvalidRequestError(
                f"request_id {text!r}: counter {counter} is over 2^63-1, "
                "the largest counter the DSP can store"
            )
        return cls(to_duis(originator), to_duis(target), int(counter))

    def __str__(self) -> str:
        return f"{self.originator}:{self.target}:{self.counter}"
