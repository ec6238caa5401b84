"""A device's side of GBCS security (`gbcs.device_keys`, docs/security.md D-SEC11 to
D-SEC19): commands protected as the DSP protects them are accepted, a command MACed with
the wrong key, an unsigned or tampered critical command and an unprotected command are
refused naming what failed; what a device seals verifies with `protections`; the RTDS
commands are accepted with the RTDS keys. Vectors are chosen by name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import gbcs
from dsp_core.keys import AcbKeys
from gbcs import (
    ActivateFirmwareCommand,
    ActivateFirmwareOutcome,
    ActivateImageResponseCode,
    CraFlag,
    DeviceAlert,
    GbcsHeader,
    GbcsMessage,
    MessageCode,
    ReadEsmeFirmwareVersionCommand,
    ReadEsmeFirmwareVersionResponse,
    SecurityAlertCode,
)
from gbcs.device_keys import DeviceKeys, DeviceSecurityError
from gbcs.keystore import DerivedKeyStore, KeyStore
from gbcs.replies import alert, response
from gbcs.security import KeyUse, protect, protections, sign
from tests.support.paths import RTDS_KEYS, read_vector

DS, KA = KeyUse.DIGITAL_SIGNING, KeyUse.KEY_AGREEMENT
SUPPLIER = bytes.fromhex("90B3D51F30010000")
OPERATOR = bytes.fromhex("90B3D51F30020000")
STRANGER = bytes.fromhex("90B3D51F30099999")
ACB = bytes.fromhex("90B3D51F30000002")
ESME = bytes.fromhex("00DB1234567890A0")
OTHER = bytes.fromhex("00DB1234567890B0")
CLOCK = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)
CS06 = MessageCode.CS06_ACTIVATE_FIRMWARE
ECS52 = MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION
# The RTDS commands: each is MACed by the ACB; the CS06 ones are signed by the supplier.
RTDS_COMMANDS = [
    *(f"ECS52_11.2_{outcome}_COMMAND" for outcome in ("SUCCESS", "ERROR")),
    *(f"GCS38_11.2_{outcome}_COMMAND" for outcome in ("SUCCESS", "ERROR")),
    *(f"CS08_11.2_{outcome}_COMMAND" for outcome in ("SUCCESS", "ERROR")),
    *(
        f"CS06_11.3_{variant}_COMMAND"
        for variant in (
            "IMMEDIATE_SUCCESS",
            "IMMEDIATE_ERROR",
            "FUTURE_DATED_SUCCESS",
            "FUTURE_DATED_ERROR",
            "CANCELLATION_SUCCESS",
        )
    ),
]

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def store() -> KeyStore:
    return DerivedKeyStore(20240611)


@pytest.fixture(scope="module")
def esme(store: KeyStore) -> DeviceKeys:
    return DeviceKeys.of(store, ESME, signers=(SUPPLIER, OPERATOR))


def _header(code: int, *, originator: bytes = SUPPLIER, recipient: bytes = ESME) -> GbcsHeader:
    return GbcsHeader(CraFlag.COMMAND, 1000, originator, recipient, None, code)


def _precommand(code: int = CS06, **kwargs: bytes) -> bytes:
    """A command without security trailer: CS06 (critical) or ECS52."""
    payload: gbcs.Payload
    if code == CS06:
        payload = ActivateFirmwareCommand(bytes(range(32)), 1000)
    else:
        payload = ReadEsmeFirmwareVersionCommand(0x20000001)
    return gbcs.encode(GbcsMessage(_header(code, **kwargs), payload))


def _refusal(keys: DeviceKeys, data: bytes) -> DeviceSecurityError:
    with pytest.raises(DeviceSecurityError) as caught:
        keys.check_command(data)
    return caught.value


def test_a_command_macd_as_the_dsp_macs_it_is_accepted(store: KeyStore, esme: DeviceKeys) -> None:
    """D-SEC7, D-SEC12: the DSP's AcbKeys MACs every command; the device checks that MAC
    with its own key-agreement key and the ACB's public one."""
    command = AcbKeys(store).protect(_precommand(ECS52), gbcs.format_entity_id(ESME))
    header = esme.check_command(command)
    assert header.message_code == ECS52


def test_a_critical_command_signed_by_the_supplier_then_macd_is_accepted(
    store: KeyStore, esme: DeviceKeys
) -> None:
    """D-SEC8, D-SEC14: CS06 signed by the service user, then MACed by the ACB."""
    command = protect(
        _precommand(),
        signer=store.private_key(SUPPLIER, DS),
        mac_own=store.private_key(ACB, KA),
        mac_peer=store.public_key(ESME, KA),
    )
    assert esme.check_command(command).message_code == CS06


def test_a_command_macd_with_the_wrong_key_is_refused(store: KeyStore, esme: DeviceKeys) -> None:
    """Issue 17: an emulated device rejecting a command MACed with the wrong key (here the
    ACB's key with another device's, so the MAC is for someone else)."""
    command = protect(
        _precommand(ECS52),
        signer=None,
        mac_own=store.private_key(ACB, KA),
        mac_peer=store.public_key(OTHER, KA),
    )
    error = _refusal(esme, command)
    assert error.alert_code is SecurityAlertCode.AUTHENTICATION_FAILED
    assert error.device_id == ESME
    text = str(error)
    assert "00-DB-12-34-56-78-90-A0" in text
    assert "MAC" in text
    assert "does not verify" in text
    assert "90-B3-D5-1F-30-00-00-02" in text  # which key: the ACB's


def test_a_command_macd_by_someone_other_than_the_acb_is_refused(
    store: KeyStore, esme: DeviceKeys
) -> None:
    """D-SEC12: only the ACB's MAC counts, even the originator's own key is not enough."""
    command = protect(
        _precommand(ECS52),
        signer=None,
        mac_own=store.private_key(SUPPLIER, KA),
        mac_peer=store.public_key(ESME, KA),
    )
    assert "does not verify" in str(_refusal(esme, command))


def test_an_unprotected_command_is_refused(esme: DeviceKeys) -> None:
    """With security on a command without a MAC (General Signing) is refused."""
    error = _refusal(esme, _precommand(ECS52))
    assert "no MAC" in error.reason
    assert error.alert_code is SecurityAlertCode.AUTHENTICATION_FAILED


def test_an_unsigned_critical_command_is_refused(store: KeyStore, esme: DeviceKeys) -> None:
    """CS06 is critical by its message code: MACed but unsigned, it is refused."""
    command = AcbKeys(store).protect(_precommand(), gbcs.format_entity_id(ESME))
    error = _refusal(esme, command)
    assert "signature of 90-B3-D5-1F-30-01-00-00" in error.reason
    assert "absent" in error.reason


def test_a_tampered_critical_command_is_refused(store: KeyStore, esme: DeviceKeys) -> None:
    """A CS06 signed by the supplier, then changed (another image hash) and MACed again
    by the ACB: the MAC is good, the signature is not."""
    signed = sign(_precommand(), store.private_key(SUPPLIER, DS))
    envelope = gbcs.envelope.read_envelope(signed)
    other = ActivateFirmwareCommand(bytes(32), 1000).to_bytes()
    tampered = gbcs.envelope.write_envelope(envelope.header, other, envelope.signature, None)
    command = AcbKeys(store).protect(tampered, gbcs.format_entity_id(ESME))
    error = _refusal(esme, command)
    assert "does not verify with its digital-signing (ds) key" in error.reason


def test_a_critical_command_signed_with_another_key_is_refused(
    store: KeyStore, esme: DeviceKeys
) -> None:
    command = protect(
        _precommand(),
        signer=store.private_key(OPERATOR, DS),  # says it is the supplier's
        mac_own=store.private_key(ACB, KA),
        mac_peer=store.public_key(ESME, KA),
    )
    assert "does not verify" in _refusal(esme, command).reason


def test_a_critical_command_from_an_untrusted_originator_is_refused(
    store: KeyStore, esme: DeviceKeys
) -> None:
    """D-SEC14: a signer outside the device's trust anchors gets alert 0x8F30."""
    command = protect(
        _precommand(originator=STRANGER),
        signer=store.private_key(STRANGER, DS),
        mac_own=store.private_key(ACB, KA),
        mac_peer=store.public_key(ESME, KA),
    )
    error = _refusal(esme, command)
    assert error.alert_code is SecurityAlertCode.SOURCE_NOT_AUTHORISED
    assert "90-B3-D5-1F-30-09-99-99" in error.reason


def test_a_command_for_another_device_is_refused(store: KeyStore, esme: DeviceKeys) -> None:
    command = AcbKeys(store).protect(
        _precommand(ECS52, recipient=OTHER), gbcs.format_entity_id(OTHER)
    )
    assert "not addressed to it" in _refusal(esme, command).reason


def test_cs06_responses_are_signed_by_the_device(store: KeyStore, esme: DeviceKeys) -> None:
    """D-SEC15: the CS06 response verifies with `protections` against the lab's store."""
    outcome = ActivateFirmwareOutcome(ActivateImageResponseCode.SUCCESS, bytes(4))
    data = response(_header(CS06), ESME, outcome, CLOCK, esme)
    found = protections(data, store)
    assert [(p.kind, p.by, p.valid) for p in found] == [
        ("signature", "00-DB-12-34-56-78-90-A0", True)
    ]


def test_read_responses_are_macd_for_their_recipient(store: KeyStore, esme: DeviceKeys) -> None:
    """D-SEC15: an 11.2 response in General Ciphering, MACed with the device's key and
    the command originator's; its signature field stays empty, as in the RTDS vectors."""
    payload = ReadEsmeFirmwareVersionResponse(
        0x20000001, gbcs.DataAccessResult.SUCCESS, b"\1\2\3\4"
    )
    data = response(_header(ECS52), ESME, payload, CLOCK, esme)
    message = gbcs.decode(data)
    assert message.signature == b""
    assert message.ciphering is not None
    found = protections(data, store)
    assert [(p.kind, p.by, p.valid) for p in found] == [("mac", "00-DB-12-34-56-78-90-A0", True)]


def test_alerts_are_signed_by_the_device(store: KeyStore, esme: DeviceKeys) -> None:
    payload = DeviceAlert(SecurityAlertCode.AUTHENTICATION_FAILED, CLOCK)
    data = alert(
        ESME,
        recipient_id=SUPPLIER,
        counter=7,
        message_code=MessageCode.GENERIC_CRITICAL_ALERT,
        payload=payload,
        command=_header(ECS52),
        sealer=esme,
    )
    assert [(p.kind, p.valid) for p in protections(data, store)] == [("signature", True)]
    assert gbcs.decode(data).payload == payload


def test_without_a_sealer_replies_keep_their_placeholders() -> None:
    """Security off: the bytes of before issue 17."""
    outcome = ActivateFirmwareOutcome(ActivateImageResponseCode.SUCCESS, bytes(4))
    message = gbcs.decode(response(_header(CS06), ESME, outcome, CLOCK))
    assert message.signature == bytes(64)


def test_a_device_without_keys_in_the_store_cannot_seal() -> None:
    keys = DeviceKeys.of(KeyStore.load(RTDS_KEYS), ESME)
    outcome = ActivateFirmwareOutcome(ActivateImageResponseCode.SUCCESS, bytes(4))
    with pytest.raises(gbcs.GbcsSecurityError, match="cannot sign"):
        response(_header(CS06), ESME, outcome, CLOCK, keys)


@pytest.fixture(scope="module")
def rtds() -> KeyStore:
    return KeyStore.load(RTDS_KEYS)


@pytest.mark.parametrize("name", RTDS_COMMANDS)
def test_the_rtds_commands_are_accepted_with_the_rtds_keys(rtds: KeyStore, name: str) -> None:
    """D-SEC16: no device private key is public, so the MAC is checked with the ACB's
    private key and the device's certificate (the same shared secret); the CS06
    commands' signatures with the supplier's certificate."""
    data = read_vector(name)
    recipient = gbcs.decode_header(data).header.recipient_id
    keys = DeviceKeys.of(rtds, recipient, signers=(SUPPLIER,))
    assert keys.check_command(data).recipient_id == recipient


@pytest.mark.parametrize("name", RTDS_COMMANDS[-5:])
def test_an_rtds_cs06_with_a_flipped_signature_byte_is_refused(rtds: KeyStore, name: str) -> None:
    """The signature is inside the MACed bytes: a flip fails the MAC first."""
    data = bytearray(read_vector(name))
    data[-20] ^= 0x01  # in the signature (the MAC is the last 12 bytes)
    recipient = gbcs.decode_header(bytes(data)).header.recipient_id
    keys = DeviceKeys.of(rtds, recipient, signers=(SUPPLIER,))
    assert "MAC" in _refusal(keys, bytes(data)).reason
