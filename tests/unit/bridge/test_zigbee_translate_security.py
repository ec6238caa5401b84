"""The ZigBee translator with the fleet's security on (docs/security.md D-SEC18): it
speaks for the devices behind its hub, so it checks each command with the device's keys
(the ACB's MAC; a critical command's signature) and signs or MACs the answers it writes
as the device would. Security off: the other translator tests, unchanged."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

import gbcs
from bridge.zigbee.actions import (
    DeviceUplink,
    DownloadEnded,
    Finished,
    FirmwareRead,
    ReadFirmware,
    SendUpgradeEnd,
    ServeImage,
    TranslatorAction,
    UpgradeEndSent,
    WakeAt,
)
from bridge.zigbee.translate import HubTranslator, TranslatorConfig
from dsp_core.keys import AcbKeys
from gbcs import DeviceAlert, MessageCode, SecurityAlertCode
from gbcs.keystore import DerivedKeyStore, KeyStore
from gbcs.ota import OtaHeader, build_ota_image
from gbcs.security import KeyUse, protections, sign

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
DEVICE = bytes.fromhex("00DB1229D26B9498")
OTHER = bytes.fromhex("00DB1229D26B9499")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
OLD, NEW = 0x0123ABCD, 0x0123ABCE
IMAGE = build_ota_image(OtaHeader(0x1037, 0x0201, NEW), b"\x5a" * 300).to_bytes()
KEYS: KeyStore = DerivedKeyStore(11)
SETTLE = timedelta(seconds=10)

pytestmark = pytest.mark.unit


def _command(payload: gbcs.Payload, code: int, counter: int) -> bytes:
    """A General Signing command without its security trailer (a pre-command)."""
    header = gbcs.GbcsHeader(gbcs.CraFlag.COMMAND, counter, SUPPLIER, DEVICE, None, code)
    return gbcs.encode(gbcs.GbcsMessage(header, payload))


def read_command(kind: str, counter: int) -> bytes:
    if kind == "ECS52":
        payload: gbcs.Payload = gbcs.ReadEsmeFirmwareVersionCommand(0x2000_0000 | counter)
        return _command(payload, MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION, counter)
    if kind == "GCS38":
        payload = gbcs.ReadGsmeFirmwareVersionCommand(zcl_sequence=counter % 256)
        return _command(payload, MessageCode.GCS38_READ_GSME_FIRMWARE_VERSION, counter)
    payload = gbcs.ReadDeviceFirmwareVersionCommand()
    return _command(payload, MessageCode.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION, counter)


def distribution(counter: int) -> bytes:
    payload = gbcs.FirmwareDistributionCommand(IMAGE, activate=False)
    return _command(payload, MessageCode.SMETSLAB_FIRMWARE_DISTRIBUTION, counter)


def activation(counter: int) -> bytes:
    payload = gbcs.ActivateFirmwareCommand(hashlib.sha256(IMAGE).digest(), counter)
    return _command(payload, MessageCode.CS06_ACTIVATE_FIRMWARE, counter)


def _placeholder_macd(data: bytes) -> bytes:
    """The command with a MAC of zeros (what the tests of security off send)."""
    envelope = gbcs.envelope.read_envelope(data)
    ciphering = gbcs.GeneralCiphering(mac=bytes(12))
    return gbcs.envelope.write_envelope(envelope.header, envelope.payload, b"", ciphering)


def _translator(keys: KeyStore | None = KEYS) -> HubTranslator:
    config = TranslatorConfig(SETTLE, keys=keys, signers=frozenset({SUPPLIER}))
    translator = HubTranslator([DEVICE, OTHER], config)
    assert translator.radio_up() == []
    return translator


def _macd(data: bytes) -> bytes:
    """As the DSP sends it (D-SEC7): the ACB's MAC with the device's key."""
    return AcbKeys(KEYS).protect(data, gbcs.format_entity_id(DEVICE))


def _signed(data: bytes) -> bytes:
    envelope = gbcs.envelope.read_envelope(data)
    bare = gbcs.envelope.write_envelope(envelope.header, envelope.payload, None, None)
    return _macd(sign(bare, KEYS.private_key(SUPPLIER, KeyUse.DIGITAL_SIGNING)))


def _checks(data: bytes) -> list[tuple[str, bool | None]]:
    return [(p.kind, p.valid) for p in protections(data, KEYS)]


def _uplink(actions: list[TranslatorAction]) -> bytes:
    (found,) = (a for a in actions if isinstance(a, DeviceUplink))
    return found.data


def _op(actions: list[TranslatorAction], kind: type) -> TranslatorAction:
    (found,) = (a for a in actions if isinstance(a, kind))
    return found


def test_a_macd_read_is_answered_with_a_macd_response() -> None:
    translator = _translator()
    read = _op(translator.command(_macd(read_command("ECS52", 5)), "t", NOW), ReadFirmware)
    assert isinstance(read, ReadFirmware)
    answer = _uplink(translator.completed(read.op, FirmwareRead(OLD), NOW))
    assert _checks(answer) == [("mac", True)]


def test_a_command_with_a_bad_mac_is_refused_with_the_devices_signed_alert() -> None:
    """Issue 17, D-SEC13: the placeholder MAC fails; nothing goes to the radio, the
    command is finished, and the device's Generic Critical Alert 0x8F53 goes up, signed."""
    translator = _translator()
    actions = translator.command(_placeholder_macd(read_command("GCS38", 6)), "t", NOW)
    assert not [a for a in actions if isinstance(a, ReadFirmware)]
    assert Finished("t") in actions
    data = _uplink(actions)
    message = gbcs.decode(data)
    assert isinstance(message.payload, DeviceAlert)
    assert message.payload.alert_code == SecurityAlertCode.AUTHENTICATION_FAILED
    assert message.header.originator_id == DEVICE
    assert _checks(data) == [("signature", True)]
    assert translator.counts["refused"] == 1


def test_the_receipt_and_a_signed_cs06_outcome_are_signed_by_the_device() -> None:
    translator = _translator()
    serve = _op(translator.command(_macd(distribution(1)), "d", NOW), ServeImage)
    assert isinstance(serve, ServeImage)
    receipt = _uplink(translator.completed(serve.op, DownloadEnded(0), NOW))
    assert _checks(receipt) == [("signature", True)]
    unsigned = translator.command(_macd(activation(2)), "a", NOW)
    assert isinstance(gbcs.decode(_uplink(unsigned)).payload, DeviceAlert)
    end = _op(translator.command(_signed(activation(3)), "b", NOW), SendUpgradeEnd)
    assert isinstance(end, SendUpgradeEnd)
    wake = _op(translator.completed(end.op, UpgradeEndSent(), NOW), WakeAt)
    assert isinstance(wake, WakeAt)
    read = _op(translator.due(wake.token, wake.at), ReadFirmware)
    assert isinstance(read, ReadFirmware)
    outcome = _uplink(translator.completed(read.op, FirmwareRead(NEW), wake.at))
    assert isinstance(gbcs.decode(outcome).payload, gbcs.ActivateFirmwareOutcome)
    assert _checks(outcome) == [("signature", True)]


def test_without_keys_the_translator_checks_nothing() -> None:
    translator = _translator(keys=None)
    assert translator.device_keys == {}
    (read,) = translator.command(_placeholder_macd(read_command("CS08", 7)), "t", NOW)
    assert isinstance(read, ReadFirmware)


def test_a_fleets_translator_config_follows_its_security() -> None:
    assert TranslatorConfig.of_fleet(None, frozenset({SUPPLIER})).signers is None
    secured = TranslatorConfig.of_fleet(KEYS, frozenset({SUPPLIER}))
    assert secured.keys is KEYS
    assert secured.signers == frozenset({SUPPLIER})
