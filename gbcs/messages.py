"""A whole GBCS message: `decode(bytes) -> GbcsMessage` and `encode(GbcsMessage) -> bytes`."""

from __future__ import annotations

from typing import Any

from contract.records import record
from contract.times import iso

from .codes import CraFlag, message_name, use_case
from .envelope import Envelope, GbcsHeader, GeneralCiphering, read_envelope, write_envelope
from .errors import GbcsDecodeError, GbcsEncodeError
from .payloads import PAYLOAD_CODECS, Payload, RawPayload

_KINDS = {flag: flag.name.lower() for flag in CraFlag}


@record
class GbcsMessage:
    """A decoded GBCS message.

    `signature` is None when the message carries no signature field at all (a
    pre-command), and empty when it carries a zero-length one; `ciphering` is None
    for a bare General Signing message.
    """

    header: GbcsHeader
    payload: Payload
    signature: bytes | None = None
    ciphering: GeneralCiphering | None = None

    @property
    def is_precommand(self) -> bool:
        return (
            self.header.cra_flag is CraFlag.COMMAND
            and self.ciphering is None
            and self.signature is None
        )

    @property
    def kind(self) -> str:
        if self.is_precommand:
            return "precommand"
        return _KINDS[self.header.cra_flag]


def decode(data: bytes | bytearray | memoryview) -> GbcsMessage:
    """Decode a message and its payload; an unmodelled payload comes back as RawPayload."""
    envelope = read_envelope(bytes(data))
    return GbcsMessage(
        envelope.header, _read_payload(envelope), envelope.signature, envelope.ciphering
    )


def decode_header(data: bytes | bytearray | memoryview) -> GbcsMessage:
    """Decode the envelope only, keeping the payload raw: for routing and journalling."""
    envelope = read_envelope(bytes(data))
    return GbcsMessage(
        envelope.header, RawPayload(envelope.payload), envelope.signature, envelope.ciphering
    )


def encode(message: GbcsMessage) -> bytes:
    header = message.header
    codec = PAYLOAD_CODECS.get((header.message_code, header.cra_flag))
    allowed = (RawPayload,) + (codec.types if codec else ())
    if not isinstance(message.payload, allowed):
        use_case = message_name(header.message_code)
        raise GbcsEncodeError(
            f"{type(message.payload).__name__} is not a payload of {use_case}"
            f" {header.cra_flag.name.lower()}"
        )
    return write_envelope(header, message.payload.to_bytes(), message.signature, message.ciphering)


def _read_payload(envelope: Envelope) -> Payload:
    header = envelope.header
    codec = PAYLOAD_CODECS.get((header.message_code, header.cra_flag))
    if codec is None:
        return RawPayload(envelope.payload)
    reader = envelope.payload_reader()
    payload = codec.read(reader)
    if not reader.at_end():
        raise GbcsDecodeError(
            reader.offset,
            f"end of the {message_name(header.message_code)} payload",
            f"{reader.remaining} extra byte(s)",
        )
    return payload


def format_entity_id(value: bytes) -> str:
    """An EUI-64 in the DUIS form, 00-DB-12-34-56-78-90-A0."""
    return value.hex("-").upper()


def message_fields(message: GbcsMessage) -> dict[str, Any]:
    """The message as JSON-ready fields with stable keys: header first, then the use case."""
    header = message.header
    when = header.date_time.to_datetime() if header.date_time else None
    out: dict[str, Any] = {
        "cra_flag": int(header.cra_flag),
        "message_code": header.message_code,
        "originator_counter": header.originator_counter,
        "originator_id": format_entity_id(header.originator_id),
        "recipient_id": format_entity_id(header.recipient_id),
        "date_time": None if when is None else iso(when),
        "message_name": message_name(header.message_code),
        "use_case": use_case(header.message_code),
        "kind": message.kind,
        "envelope": "general-signing" if message.ciphering is None else "general-ciphering",
        "payload_type": type(message.payload).__name__,
    }
    out.update(message.payload.fields())
    out.update(_supplementary_fields(header))
    out["signature_hex"] = None if message.signature is None else message.signature.hex().upper()
    if message.ciphering is not None:
        out["mac_hex"] = message.ciphering.mac.hex().upper()
    return out


def _supplementary_fields(header: GbcsHeader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if header.supplementary_remote_party_id is not None:
        out["supplementary_remote_party_id"] = format_entity_id(
            header.supplementary_remote_party_id
        )
    if header.supplementary_remote_party_counter is not None:
        out["supplementary_remote_party_counter"] = header.supplementary_remote_party_counter
    if header.supplementary_originator_counter is not None:
        out["supplementary_originator_counter"] = header.supplementary_originator_counter
    if header.supplementary_certificate is not None:
        out["supplementary_certificate_hex"] = header.supplementary_certificate.hex().upper()
    return out
