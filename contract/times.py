"""Date-times as the contract writes them: ISO-8601 in UTC with a `Z` (DESIGN §3)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime) -> str:
    """`2030-01-15T09:00:00Z`: an aware date-time in UTC, `Z` for the offset."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
