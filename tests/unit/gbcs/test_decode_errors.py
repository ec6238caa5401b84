"""Bad input gets a GbcsDecodeError that names the offset and what was expected."""

from __future__ import annotations

import pytest

import gbcs
from tests.support.paths import RTDS_DIR, read_hex

ALERT = read_hex(RTDS_DIR / "11.3_CS06" / "CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT_GBCS.HEX")
ECS52 = read_hex(RTDS_DIR / "11.2_ECS52" / "ECS52_11.2_SUCCESS_RESPONSE_GBCS.HEX")
PRECOMMAND = read_hex(RTDS_DIR / "11.3_CS06" / "CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND_GBCS.HEX")


def _patched(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


CASES = [
    ("empty input", b"", 0, "General Ciphering 0xDD or General Signing 0xDF"),
    ("unknown tag", b"\xe0" + ALERT[1:], 0, "General Ciphering 0xDD or General Signing 0xDF"),
    ("truncated counter", ALERT[:8], 3, "8 byte(s) of originator counter"),
    ("truncated header", ALERT[:12], 12, "8 byte(s) of originator system title"),
    ("wrong transaction ID length", _patched(ALERT, 1, b"\x08"), 1, "transaction ID length 09"),
    ("bad CRA flag", _patched(ALERT, 2, b"\x07"), 2, "CRA flag 1, 2 or 3"),
    (
        "bad system title length",
        _patched(ALERT, 11, b"\x07"),
        11,
        "originator system title length 08",
    ),
    ("bad date-time length", _patched(ALERT, 29, b"\x05"), 29, "date-time length 0 or 12"),
    (
        "other-information of 5 bytes",
        _patched(ALERT, 30, b"\x05"),
        30,
        "other-information of 2, 10, 18 or more bytes",
    ),
    ("content longer than the message", _patched(ALERT, 33, b"\x7f"), 34, "127 byte(s) of content"),
    ("over-long: trailing bytes", ALERT + b"\x00", 0, ""),
    ("truncated signature", ALERT[:-1], 74, "64 byte(s) of signature"),
    ("non-minimal length", _patched(ALERT, 33, b"\x81"), 33, "minimal encoding"),
    ("wrong DER tag for the alert", _patched(ALERT, 34, b"\x31"), 34, "Activate Firmware alert"),
    (
        "alert code other than 8F66/8F67",
        _patched(ALERT, 38, b"\x8f\x65"),
        36,
        "alert code 0x8F66 or 0x8F67",
    ),
    ("bad execution time", _patched(ALERT, 43, b"X"), 43, "YYYYMMDDHHMMSSZ"),
    ("short firmware version", _patched(ALERT, 68, b"\x03"), 69, "4-byte firmware version"),
    (
        "response code out of range",
        _patched(ALERT, 66, b"\x09"),
        64,
        "activate image response code 0 to 3",
    ),
    ("general ciphering MAC cut", ECS52[:-13], 8, "69 byte(s) of ciphered service"),
    ("encrypted ciphering", _patched(ECS52, 8, b"\x31"), 8, "authenticated-only"),
    ("ciphering fields not empty", _patched(ECS52, 3, b"\x01"), 1, "empty General Ciphering"),
    ("ECS52 wrong DLMS tag", _patched(ECS52, 47, b"\xd9"), 47, "access-response"),
    ("ECS52 two data items", _patched(ECS52, 54, b"\x02"), 54, "one access-response-list"),
    ("ECS52 unknown data type", _patched(ECS52, 55, b"\x11"), 55, "octet-string (0x09)"),
    ("precommand cut inside the payload", PRECOMMAND[:-3], 34, "byte(s) of content"),
]


@pytest.mark.parametrize(
    ("data", "offset", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_decode_error_names_offset_and_expectation(data: bytes, offset: int, expected: str) -> None:
    with pytest.raises(gbcs.GbcsDecodeError) as caught:
        gbcs.decode(data)
    error = caught.value
    assert expected in error.expected
    if expected:
        assert error.offset == offset, str(error)
    assert str(error).startswith(f"at offset {error.offset}: expected ")


def test_trailing_bytes_are_reported_at_their_offset() -> None:
    with pytest.raises(gbcs.GbcsDecodeError, match=r"signature length|end of"):
        gbcs.decode(ALERT + b"\x00\x00")


def test_errors_are_value_errors_for_callers_that_catch_broadly() -> None:
    with pytest.raises(ValueError, match="offset"):
        gbcs.decode(b"\xdf")
