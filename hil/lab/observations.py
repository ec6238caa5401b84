"""What a lab's service users receive, as the scenario interpreter is fed it (sans-IO):
responses, alerts and CPL results, each with the device time it arrived."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ObservationKind(StrEnum):
    RESPONSE = "response"
    ALERT = "alert"
    CPL_RESULT = "cpl_result"
    UNREADABLE = "unreadable"  # kept, never dropped: the content says what it was
    # the I0 to a Critical SR's CV 4 carrying the pre-command, which the client signed and
    # sent back as CV 5 itself (D-SEC23): kept for transcripts, not an answer to wait for
    PRE_COMMAND = "pre_command"


@dataclass(frozen=True, slots=True)
class Observation:
    kind: ObservationKind
    user_id: str | None  # DUIS form; None for CPL results
    content: dict[str, Any]
    at: datetime  # device time it arrived

    def to_json(self) -> dict[str, Any]:
        return {"type": str(self.kind), "user_id": self.user_id, "content": self.content}
