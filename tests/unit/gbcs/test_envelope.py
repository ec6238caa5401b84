"""The envelope is generic: any GBCS message's header decodes; unmodelled payloads stay raw."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import gbcs
from gbcs.envelope import read_envelope

ESME = bytes.fromhex("00DB1234567890A0")
SUPPLIER = bytes.fromhex("90B3D51F30010000")


def _header(code: int, cra: gbcs.CraFlag = gbcs.CraFlag.ALERT, **extra: Any) -> gbcs.GbcsHeader:
    return gbcs.GbcsHeader(cra, 4242, ESME, SUPPLIER, None, code, **extra)


@pytest.mark.parametrize("code", [0x00CB, 0x00CC, 0x00CD, 0x0124, 0x00CE, 0x0001, 0xFFFF])
@pytest.mark.parametrize("ciphered", [False, True])
def test_unmodelled_payloads_are_kept_raw(code: int, ciphered: bool) -> None:
    payload = bytes(range(40)) * 5  # 200 bytes: needs a long-form content length
    cipher = gbcs.GeneralCiphering(mac=bytes(range(12))) if ciphered else None
    message = gbcs.GbcsMessage(_header(code), gbcs.RawPayload(payload), b"\x01" * 64, cipher)
    data = gbcs.encode(message)
    decoded = gbcs.decode(data)
    assert decoded == message
    assert decoded.payload == gbcs.RawPayload(payload)
    fields = gbcs.message_fields(decoded)
    assert fields["message_code"] == code
    assert fields["payload_hex"] == payload.hex().upper()


def test_a_modelled_code_with_an_unmodelled_cra_flag_stays_raw() -> None:
    # CS06 never comes as an alert: message code 0x0012 with CRA 3 is not modelled.
    message = gbcs.GbcsMessage(_header(0x0012), gbcs.RawPayload(b"\x05\x00"), b"")
    assert gbcs.decode(gbcs.encode(message)).payload == gbcs.RawPayload(b"\x05\x00")


def test_decode_header_keeps_a_modelled_payload_raw() -> None:
    command = gbcs.ActivateFirmwareCommand(bytes(32), 7, None)
    message = gbcs.GbcsMessage(_header(0x0012, gbcs.CraFlag.COMMAND), command)
    data = gbcs.encode(message)
    assert gbcs.decode_header(data).payload == gbcs.RawPayload(command.to_bytes())
    assert gbcs.decode(data).payload == command


@pytest.mark.parametrize(
    ("extra", "other_info_length"),
    [
        ({}, 2),
        ({"supplementary_remote_party_id": SUPPLIER}, 10),
        ({"supplementary_remote_party_id": SUPPLIER, "supplementary_remote_party_counter": 99}, 18),
        (
            {
                "supplementary_remote_party_id": SUPPLIER,
                "supplementary_remote_party_counter": 99,
                "supplementary_originator_counter": 100,
            },
            26,
        ),
        (
            {
                "supplementary_remote_party_id": SUPPLIER,
                "supplementary_remote_party_counter": 99,
                "supplementary_certificate": b"\x30\x82" + bytes(300),
            },
            320,
        ),
    ],
)
def test_other_information_forms_round_trip(extra: dict[str, Any], other_info_length: int) -> None:
    header = _header(0x00CC, **extra)
    message = gbcs.GbcsMessage(header, gbcs.RawPayload(b"\xaa"), b"")
    data = gbcs.encode(message)
    assert gbcs.decode(data).header == header
    envelope = read_envelope(data)
    assert envelope.payload == b"\xaa"
    assert (
        len(data)
        == 1 + 1 + 9 + 9 + 9 + 1 + (1 if other_info_length < 128 else 3) + other_info_length + 2 + 1
    )


def test_header_date_time_is_carried_and_rendered() -> None:
    when = datetime(2026, 11, 24, 9, 30, 15, tzinfo=UTC)
    stamp = gbcs.DlmsDateTime.from_datetime(when)
    header = gbcs.GbcsHeader(gbcs.CraFlag.RESPONSE, 1, ESME, SUPPLIER, stamp, 0x0059)
    data = gbcs.encode(gbcs.GbcsMessage(header, gbcs.RawPayload(b"")))
    decoded = gbcs.decode_header(data)
    assert decoded.header.date_time == stamp
    assert gbcs.message_fields(decoded)["date_time"] == "2026-11-24T09:30:15Z"


def test_unspecified_date_time_fields_render_as_null() -> None:
    stamp = gbcs.DlmsDateTime(0xFFFF, 1, 1, 0xFF, 0, 0, 0, 0, -0x8000, 0xFF)
    assert stamp.to_datetime() is None
    assert gbcs.DlmsDateTime.from_datetime(
        datetime(2030, 1, 1, tzinfo=UTC)
    ).to_datetime() == datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (
            gbcs.GbcsMessage(
                _header(0x0012, gbcs.CraFlag.RESPONSE), gbcs.ActivateFirmwareCommand(bytes(32), 1)
            ),
            "not a payload",
        ),
        (
            gbcs.GbcsMessage(
                gbcs.GbcsHeader(gbcs.CraFlag.ALERT, 1, b"\x00" * 7, SUPPLIER, None, 1),
                gbcs.RawPayload(b""),
            ),
            "originator ID must be 8 bytes",
        ),
        (
            gbcs.GbcsMessage(
                gbcs.GbcsHeader(gbcs.CraFlag.ALERT, 1 << 64, ESME, SUPPLIER, None, 1),
                gbcs.RawPayload(b""),
            ),
            "originator counter",
        ),
        (
            gbcs.GbcsMessage(
                _header(1), gbcs.RawPayload(b""), None, gbcs.GeneralCiphering(mac=b"short")
            ),
            "MAC must be 12 bytes",
        ),
        (
            gbcs.GbcsMessage(
                _header(1, supplementary_remote_party_counter=3), gbcs.RawPayload(b"")
            ),
            "need a supplementary remote party ID",
        ),
        (
            gbcs.GbcsMessage(
                _header(0x0012, gbcs.CraFlag.COMMAND), gbcs.ActivateFirmwareCommand(bytes(31), 1)
            ),
            "image hash must be 32",
        ),
    ],
)
def test_encode_rejects_what_cannot_be_written(message: gbcs.GbcsMessage, complaint: str) -> None:
    with pytest.raises(gbcs.GbcsEncodeError, match=complaint):
        gbcs.encode(message)


@pytest.mark.parametrize("deviation", [1536, -721, 0x7FFF])
def test_out_of_range_deviation_is_not_an_instant(deviation: int) -> None:
    # found by the fuzz test: a deviation beyond ±720 minutes crashed to_datetime()
    stamp = gbcs.DlmsDateTime(2015, 1, 1, 0xFF, 0, 0, 0, 0, deviation, 0xFF)
    assert stamp.to_datetime() is None


def test_deviation_shifts_the_instant() -> None:
    stamp = gbcs.DlmsDateTime(2030, 6, 1, 0xFF, 12, 0, 0, 0, -60, 0xFF)
    instant = stamp.to_datetime()
    assert instant is not None
    assert instant.astimezone(UTC).hour == 11
