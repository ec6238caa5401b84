"""Payloads built from their dataclasses encode to bytes the decoder reads back the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import gbcs
from gbcs.payloads import Payload

ESME = bytes.fromhex("00DB1234567890A0")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
VERSION = bytes.fromhex("0123ABCE")
WHEN = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)
ACTIVATION_FAILURE = gbcs.ActivateImageResponseCode.ACTIVATION_FAILURE

CASES: list[tuple[int, gbcs.CraFlag, Payload]] = [
    (0x0012, gbcs.CraFlag.COMMAND, gbcs.ActivateFirmwareCommand(bytes(range(32)), 1000)),
    (0x0012, gbcs.CraFlag.COMMAND, gbcs.ActivateFirmwareCommand(bytes(32), 2**63, WHEN)),
    (
        0x0012,
        gbcs.CraFlag.COMMAND,
        gbcs.ActivateFirmwareCommand(bytes(32), 5, gbcs.CANCELLATION_DATETIME),
    ),
    (0x0012, gbcs.CraFlag.RESPONSE, gbcs.ActivateFirmwareAccepted()),
    *[
        (0x0012, gbcs.CraFlag.RESPONSE, gbcs.ActivateFirmwareOutcome(code, VERSION))
        for code in gbcs.ActivateImageResponseCode
    ],
    *[
        (0x00CA, gbcs.CraFlag.ALERT, gbcs.FirmwareActivationAlert(alert, WHEN, 1001, code, VERSION))
        for alert in gbcs.AlertCode
        for code in gbcs.ActivateImageResponseCode
    ],
    (0x0059, gbcs.CraFlag.COMMAND, gbcs.ReadEsmeFirmwareVersionCommand(0x200003E8)),
    (
        0x0059,
        gbcs.CraFlag.RESPONSE,
        gbcs.ReadEsmeFirmwareVersionResponse(
            7, gbcs.DataAccessResult.SUCCESS, VERSION, gbcs.DlmsDateTime.from_datetime(WHEN)
        ),
    ),
    (
        0x0059,
        gbcs.CraFlag.RESPONSE,
        gbcs.ReadEsmeFirmwareVersionResponse(7, gbcs.DataAccessResult.OTHER_REASON, None),
    ),
    (0x0084, gbcs.CraFlag.COMMAND, gbcs.ReadGsmeFirmwareVersionCommand(zcl_sequence=9)),
    (
        0x0084,
        gbcs.CraFlag.RESPONSE,
        gbcs.ReadGsmeFirmwareVersionResponse(gbcs.ZclStatus.SUCCESS, VERSION, 9),
    ),
    (
        0x0084,
        gbcs.CraFlag.RESPONSE,
        gbcs.ReadGsmeFirmwareVersionResponse(gbcs.ZclStatus.UNSUPPORTED_ATTRIBUTE, None),
    ),
    (0x0129, gbcs.CraFlag.COMMAND, gbcs.ReadDeviceFirmwareVersionCommand()),
    *[
        (0x0129, gbcs.CraFlag.RESPONSE, gbcs.ReadDeviceFirmwareVersionResponse(VERSION, code))
        for code in gbcs.ReadFirmwareResponseCode
    ],
    # A SMETS1 retry may answer without a version (R10, D8).
    (0x0012, gbcs.CraFlag.RESPONSE, gbcs.ActivateFirmwareOutcome(ACTIVATION_FAILURE, None)),
    (0xFF05, gbcs.CraFlag.COMMAND, gbcs.FirmwareDistributionCommand(b"OTA image", activate=False)),
    (0xFF05, gbcs.CraFlag.COMMAND, gbcs.FirmwareDistributionCommand(bytes(300), activate=True)),
    (0xFF06, gbcs.CraFlag.ALERT, gbcs.FirmwareReceiptAlert(bytes(range(32)))),
    (0xFF06, gbcs.CraFlag.ALERT, gbcs.FirmwareReceiptAlert(bytes(32), VERSION)),
    # the generic alerts a device raises when it refuses a command (docs/security.md D-SEC13)
    *[
        (code, gbcs.CraFlag.ALERT, gbcs.DeviceAlert(alert, WHEN))
        for code in (0x1000, 0x1001)
        for alert in gbcs.SecurityAlertCode
    ],
    (0x1001, gbcs.CraFlag.ALERT, gbcs.DeviceAlert(0x8F3D, WHEN, b"\x01\x07\x00", 1)),
]


@pytest.mark.parametrize(("code", "cra", "payload"), CASES, ids=lambda case: repr(case)[:60])
def test_payload_round_trips(code: int, cra: gbcs.CraFlag, payload: Payload) -> None:
    header = gbcs.GbcsHeader(cra, 77, SUPPLIER, ESME, None, code)
    message = gbcs.GbcsMessage(header, payload, b"\x00" * 64)
    assert gbcs.decode(gbcs.encode(message)) == message


def test_cancellation_is_the_gbcs_wire_value() -> None:
    command = gbcs.ActivateFirmwareCommand(bytes(32), 5, gbcs.CANCELLATION_DATETIME)
    assert command.is_cancellation
    assert b"99991231235959Z" in command.to_bytes()
    assert not gbcs.ActivateFirmwareCommand(bytes(32), 5, WHEN).is_cancellation


def test_gcs38_response_uses_zcl_octet_string() -> None:
    payload = gbcs.ReadGsmeFirmwareVersionResponse(gbcs.ZclStatus.SUCCESS, VERSION)
    # GBZ profile 0x0109, one component, Metering 0x0702; ZCL read attributes response.
    assert payload.to_bytes().hex().upper() == "010901010702000C080001060200410401 23ABCE".replace(
        " ", ""
    )


def test_generalized_time_needs_utc_whole_seconds() -> None:
    naive = gbcs.ActivateFirmwareCommand(bytes(32), 1, datetime(2030, 1, 1))
    with pytest.raises(gbcs.GbcsEncodeError, match="UTC"):
        naive.to_bytes()
    fractional = gbcs.ActivateFirmwareCommand(
        bytes(32), 1, datetime(2030, 1, 1, 0, 0, 0, 5, tzinfo=UTC)
    )
    with pytest.raises(gbcs.GbcsEncodeError, match="whole seconds"):
        fractional.to_bytes()


def test_versionless_outcome_is_a_one_element_sequence() -> None:
    outcome = gbcs.ActivateFirmwareOutcome(ACTIVATION_FAILURE, None)
    assert outcome.to_bytes() == bytes.fromhex("3003020103")
    assert outcome.fields()["firmware_version"] is None


def test_distribution_activate_flag_must_be_0_or_1() -> None:
    header = gbcs.GbcsHeader(gbcs.CraFlag.COMMAND, 1, SUPPLIER, ESME, None, 0xFF05)
    good = gbcs.encode(gbcs.GbcsMessage(header, gbcs.FirmwareDistributionCommand(b"x"), b""))
    bad = good.replace(bytes.fromhex("020100"), bytes.fromhex("020102"))
    with pytest.raises(gbcs.GbcsDecodeError, match="activate flag 0 or 1"):
        gbcs.decode(bad)


def test_a_generic_alert_is_the_gbz_alert_form() -> None:
    """Profile 0x0109, no component, alert code, ZigBee UTCTime (seconds since 2000,
    big-endian), as gbcs-parser's parseGbzAlertPayload reads it (D-SEC13)."""
    alert = gbcs.DeviceAlert(0x8F53, datetime(2000, 1, 1, 0, 1, 40, tzinfo=UTC))
    assert alert.to_bytes().hex().upper() == "0109008F5300000064"
    assert alert.fields()["alert_code"] == "8F53"


def test_a_generic_alert_time_stamp_needs_a_zone_and_the_zigbee_range() -> None:
    with pytest.raises(gbcs.GbcsEncodeError, match="time zone"):
        gbcs.DeviceAlert(0x8F53, datetime(2030, 1, 1)).to_bytes()
    with pytest.raises(gbcs.GbcsEncodeError, match="outside ZigBee UTCTime"):
        gbcs.DeviceAlert(0x8F53, datetime(1999, 1, 1, tzinfo=UTC)).to_bytes()


def test_a_generic_alert_with_an_invalid_time_is_refused() -> None:
    header = gbcs.GbcsHeader(gbcs.CraFlag.ALERT, 1, ESME, SUPPLIER, None, 0x1000)
    data = gbcs.encode(
        gbcs.GbcsMessage(header, gbcs.RawPayload(bytes.fromhex("0109008F53FFFFFFFF")), b"")
    )
    with pytest.raises(gbcs.GbcsDecodeError, match="UTCTime"):
        gbcs.decode(data)
