"""What the reports show of a timeline entry: a one-line summary, the GBCS bytes in hex
and their decoding (the fields of `smetslab gbcs decode`, D6)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gbcs

from .evidence import decode
from .recording import Entry, Source


@dataclass(frozen=True, slots=True)
class GbcsView:
    hex: str
    fields: dict[str, Any] | None
    error: str | None


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def gbcs_view(entry: Entry) -> GbcsView | None:
    if entry.gbcs is None:
        return None
    decoded = decode(entry.gbcs)
    return GbcsView(entry.gbcs.hex().upper(), decoded.fields, decoded.error)


def hex_lines(text: str, width: int = 64) -> str:
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def summary(entry: Entry) -> str:
    """One line saying what the entry is."""
    content = entry.content or {}
    match entry.source:
        case Source.REQUEST:
            return f"SR {content.get('service_reference_variant')} request {entry.request_id}"
        case Source.RESPONSE:
            extra = " (late)" if entry.body.get("late") is True else ""
            return f"{entry.code} for {entry.request_id}{extra}"
        case Source.ALERT:
            return f"alert {entry.code} about {entry.device_id}"
        case Source.HUB_DOWN | Source.HUB_UP:
            return _hub_summary(entry)
    return entry.note


def _hub_summary(entry: Entry) -> str:
    if entry.gbcs is None or entry.note:
        return f"unreadable GBCS on the hub topic: {entry.note}"
    try:
        message = gbcs.decode_header(entry.gbcs)
    except gbcs.GbcsError as exc:
        return f"unreadable GBCS on the hub topic: {exc}"
    header = message.header
    name = gbcs.message_name(header.message_code)
    return (
        f"{name} {message.kind} from {gbcs.format_entity_id(header.originator_id)} "
        f"to {gbcs.format_entity_id(header.recipient_id)}, counter {header.originator_counter}"
    )


def content_json(entry: Entry) -> str | None:
    """The JSON of a request, response or alert, as seen (gbcs_payload shown apart)."""
    if entry.content is None:
        return None
    return json.dumps(entry.content, indent=2, sort_keys=False, default=str)
