"""Emulated devices with the fleet's security on (docs/security.md D-SEC11 to D-SEC19):
each device gets its DeviceKeys from the fleet's key store, executes only the commands
the ACB MACed (and, when critical, their originator signed), refuses the others with an
`authentication_failed` event and a signed 0x8F53/0x8F30 alert, and signs or MACs what
it sends. Security off keeps the placeholders (the other emulator tests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

import gbcs
from contract.vocabulary import DeviceType
from emulators.actions import EventKind, Output, Uplink
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import FleetSpec, PremisesTemplate
from emulators.journal import FleetJournal
from gbcs import (
    ActivateFirmwareOutcome,
    DeviceAlert,
    MessageCode,
    SecurityAlertCode,
)
from gbcs.envelope import read_envelope, write_envelope
from gbcs.keystore import KeyStore
from gbcs.security import protections
from tests.support.emulators import (
    SMETS1_TYPES,
    SMETS2_TYPES,
    SUPPLIER,
    T0,
    WAKE_SECONDS,
    cs06,
    cs08,
    device,
    device_spec,
    distribution,
    down_as_is,
    download_done,
    ecs52,
    events,
    gcs38,
    image,
    macd,
    signed,
    uplinks,
)

IMAGE = image()
STRANGER = bytes.fromhex("90B3D51F30099999")

pytestmark = pytest.mark.unit


def _secured(security: bool = True, smets: int = 2) -> FleetBuild:
    types = SMETS2_TYPES if smets == 2 else SMETS1_TYPES
    template = PremisesTemplate(
        name="test",
        count=1,
        smets=smets,  # type: ignore[arg-type]
        devices=[device_spec(t) for t in types],
    )
    return build_fleet(FleetSpec(seed=7, templates=[template], security=security))


@pytest.fixture
def build() -> FleetBuild:
    return _secured()


def _keys(build: FleetBuild) -> KeyStore:
    assert build.keys is not None
    return build.keys


def _valid(build: FleetBuild, data: bytes) -> list[tuple[str, bool | None]]:
    return [(p.kind, p.valid) for p in protections(data, _keys(build))]


def _uplink_bytes(outputs: Sequence[Output]) -> list[bytes]:
    return [o.data for o in outputs if isinstance(o, Uplink)]


def test_every_device_gets_its_keys_from_the_fleet(build: FleetBuild) -> None:
    """D-SEC17: FleetBuild.keys is the fleet's store; each device's DeviceKeys reads it."""
    for model in build.fleet.devices():
        assert model.keys is not None
        assert model.keys.device_id == model.device_id
        assert model.keys.store is build.keys
        assert SUPPLIER in (model.keys.signers or ())


def test_security_off_gives_devices_no_keys() -> None:
    build = _secured(security=False)
    assert build.keys is None
    assert all(model.keys is None for model in build.fleet.devices())


def test_a_read_macd_by_the_acb_is_answered_with_a_macd_response(build: FleetBuild) -> None:
    """An 11.2 read (ECS52) MACed as the DSP MACs it: answered in General Ciphering,
    the MAC made for the command's originator, valid against the lab's store."""
    esme = device(build, DeviceType.ESME)
    (data,) = _uplink_bytes(down_as_is(build, macd(build, ecs52(esme.device_id))))
    assert gbcs.decode(data).header.message_code == MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION
    assert _valid(build, data) == [("mac", True)]


READS = {
    DeviceType.CHF: ecs52,
    DeviceType.ESME: ecs52,
    DeviceType.GSME: gcs38,
    DeviceType.GPF: gcs38,
    DeviceType.PPMID: cs08,
    DeviceType.HCALCS: cs08,
}


@pytest.mark.parametrize("device_type", list(READS))
def test_every_device_types_11_2_response_is_macd_for_its_originator(
    build: FleetBuild, device_type: DeviceType
) -> None:
    """D-SEC15: ECS52, GCS38 and CS08 responses (CS08's originator is the ACB) carry a
    MAC that verifies against the lab's store; a sleeping GSME answers when it wakes."""
    model = device(build, device_type)
    outputs = down_as_is(build, macd(build, READS[device_type](model.device_id)))
    outputs += build.fleet.tick(T0 + timedelta(seconds=WAKE_SECONDS + 1))
    (data,) = _uplink_bytes(outputs)
    assert gbcs.decode(data).header.cra_flag is gbcs.CraFlag.RESPONSE
    assert _valid(build, data) == [("mac", True)]


def test_a_smets1_esme_checks_and_macs_too() -> None:
    """The DSP MACs every command (D-SEC7), SMETS1 devices' too, so they check alike."""
    build = _secured(smets=1)
    esme = device(build, DeviceType.ESME)
    (data,) = _uplink_bytes(down_as_is(build, macd(build, ecs52(esme.device_id))))
    assert _valid(build, data) == [("mac", True)]
    assert events(
        down_as_is(build, ecs52(esme.device_id, counter=2)), EventKind.AUTHENTICATION_FAILED
    )


def test_a_command_with_a_bad_mac_is_refused_with_a_signed_alert(build: FleetBuild) -> None:
    """Issue 17: a command MACed with the wrong key (the placeholder MAC here) is not
    executed; the refusal is an `authentication_failed` event naming the device and the
    reason, and the device raises alert 0x8F53 in a Generic Critical Alert, signed."""
    esme = device(build, DeviceType.ESME)
    outputs = down_as_is(build, ecs52(esme.device_id, counter=1234))
    (refused,) = events(outputs, EventKind.AUTHENTICATION_FAILED)
    assert refused.device_id == esme.hex_id
    assert "8F53" in refused.detail
    assert "MAC" in refused.detail
    (data,) = _uplink_bytes(outputs)
    message = gbcs.decode(data)
    assert message.header.cra_flag is gbcs.CraFlag.ALERT
    assert message.header.message_code == MessageCode.GENERIC_CRITICAL_ALERT
    assert message.header.recipient_id == SUPPLIER
    assert message.header.supplementary_originator_counter == 1234  # E4: matches the command
    assert isinstance(message.payload, DeviceAlert)
    assert message.payload.alert_code == SecurityAlertCode.AUTHENTICATION_FAILED
    assert _valid(build, data) == [("signature", True)]


def test_an_unprotected_command_is_not_executed(build: FleetBuild) -> None:
    """A distribution without MAC starts no download (D-SEC13)."""
    esme = device(build, DeviceType.ESME)
    command = distribution(esme.device_id, IMAGE.to_bytes())
    envelope = read_envelope(command)
    bare = write_envelope(envelope.header, envelope.payload, b"", None)
    outputs = down_as_is(build, bare)
    assert not events(outputs, EventKind.DOWNLOAD_STARTED)
    assert events(outputs, EventKind.AUTHENTICATION_FAILED)
    assert download_done(build) == []


def test_an_unsigned_cs06_is_refused_and_a_signed_one_activates(build: FleetBuild) -> None:
    """CS06 is critical: MACed alone it is refused; signed by the supplier then MACed
    it runs, and its response is signed by the device."""
    esme = device(build, DeviceType.ESME)
    down_as_is(build, macd(build, distribution(esme.device_id, IMAGE.to_bytes())))
    receipts = download_done(build)
    (receipt,) = _uplink_bytes(receipts)
    assert _valid(build, receipt) == [("signature", True)]
    refused = down_as_is(build, macd(build, cs06(esme.device_id, IMAGE.sha256)))
    assert events(refused, EventKind.AUTHENTICATION_FAILED)
    assert not events(refused, EventKind.ACTIVATED)
    done = down_as_is(build, signed(build, cs06(esme.device_id, IMAGE.sha256, counter=1001)))
    assert events(done, EventKind.ACTIVATED)
    (data,) = _uplink_bytes(done)
    assert isinstance(gbcs.decode(data).payload, ActivateFirmwareOutcome)
    assert _valid(build, data) == [("signature", True)]


def test_a_cs06_signed_by_a_stranger_gets_alert_8f30(build: FleetBuild) -> None:
    """D-SEC14: only the fleet's supplier and network operator may sign critical commands."""
    esme = device(build, DeviceType.ESME)
    command = cs06(esme.device_id, IMAGE.sha256)
    envelope = read_envelope(command)
    header = gbcs.GbcsHeader(
        envelope.header.cra_flag,
        envelope.header.originator_counter,
        STRANGER,
        envelope.header.recipient_id,
        None,
        envelope.header.message_code,
    )
    forged = write_envelope(header, envelope.payload, None, None)
    outputs = down_as_is(build, signed(build, forged, signer=STRANGER))
    (alert,) = (m for m in uplinks(outputs) if isinstance(m.payload, DeviceAlert))
    assert isinstance(alert.payload, DeviceAlert)
    assert alert.payload.alert_code == SecurityAlertCode.SOURCE_NOT_AUTHORISED
    assert alert.header.recipient_id == STRANGER


def test_a_sleeping_gsme_refuses_at_once_and_answers_when_it_wakes(build: FleetBuild) -> None:
    """The refused command is not queued for the GSME (R10); its alert waits for the wake."""
    gsme = device(build, DeviceType.GSME)
    outputs = down_as_is(build, gcs38(gsme.device_id))
    assert events(outputs, EventKind.AUTHENTICATION_FAILED)
    assert not events(outputs, EventKind.COMMAND_QUEUED)
    later = build.fleet.tick(T0 + timedelta(seconds=WAKE_SECONDS + 1))
    alerts = [m for m in uplinks(later) if isinstance(m.payload, DeviceAlert)]
    assert len(alerts) == 1


def test_the_journal_keeps_the_refusal(build: FleetBuild) -> None:
    """R11: the fleet journal counts `authentication_failed` and writes the device and reason."""
    esme = device(build, DeviceType.ESME)
    journal = FleetJournal()
    uplinks_out = journal.record(down_as_is(build, ecs52(esme.device_id)))
    assert journal.events[EventKind.AUTHENTICATION_FAILED] == 1
    assert len(uplinks_out) == 1


def test_a_secured_read_keeps_its_message(build: FleetBuild) -> None:
    """The response to a secured read decodes to the same payload as with security off."""
    esme = device(build, DeviceType.ESME)
    (secured,) = uplinks(down_as_is(build, macd(build, ecs52(esme.device_id))))
    plain_build = _secured(security=False)
    plain = device(plain_build, DeviceType.ESME)
    (unsecured,) = uplinks(down_as_is(plain_build, ecs52(plain.device_id)))
    assert secured.payload == unsecured.payload
