"""Builders shared by the emulator tests: GBCS commands as the DSP sends them (D8; with
the fleet's security on, MACed by the ACB and CS06 signed by its originator, D-SEC7 and
D-SEC8), a small fleet, and ways to read what came out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import gbcs
from contract.vocabulary import DeviceType
from dsp_core.keys import AcbKeys
from emulators.actions import DeviceEvent, EventKind, FaultFired, Output, Uplink
from emulators.faults import NO_FAULTS, FaultPlan, FaultRule
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import DeviceSpec, FleetSpec, PremisesTemplate
from emulators.models import FirmwareDeviceModel
from emulators.premises import PremisesModel
from gbcs import (
    ActivateFirmwareCommand,
    CraFlag,
    FirmwareDistributionCommand,
    GbcsHeader,
    GbcsMessage,
    GeneralCiphering,
    MessageCode,
    ReadDeviceFirmwareVersionCommand,
    ReadEsmeFirmwareVersionCommand,
    ReadGsmeFirmwareVersionCommand,
)
from gbcs.envelope import read_envelope, write_envelope
from gbcs.keystore import KeyStore
from gbcs.ota import OtaHeader, OtaImage, build_ota_image
from gbcs.payloads import Payload
from gbcs.security import KeyUse, sign

SUPPLIER = bytes.fromhex("90B3D51F30010000")
ACB = bytes.fromhex("90B3D51F30000002")
T0 = datetime(2030, 1, 1, tzinfo=UTC)
OLD = bytes.fromhex("0123ABCD")
NEW_VERSION = 0x0123ABCF
NEW = NEW_VERSION.to_bytes(4, "big")
BLOCK_SECONDS = 1.0
WAKE_SECONDS = 600


def image(version: int = NEW_VERSION, size: int = 200) -> OtaImage:
    return build_ota_image(OtaHeader(0x1234, 0, version), bytes(i * 7 % 256 for i in range(size)))


def command(
    recipient: bytes,
    code: int,
    payload: Payload,
    counter: int = 1000,
    *,
    originator: bytes = SUPPLIER,
    srp: tuple[bytes, int] | None = None,
) -> bytes:
    header = GbcsHeader(
        CraFlag.COMMAND,
        counter,
        originator,
        recipient,
        None,
        code,
        None if srp is None else srp[0],
        None if srp is None else srp[1],
    )
    return gbcs.encode(GbcsMessage(header, payload, b"", GeneralCiphering(mac=bytes(12))))


def cs06(
    recipient: bytes, image_hash: bytes, counter: int = 1000, execution: datetime | None = None
) -> bytes:
    body = ActivateFirmwareCommand(image_hash, counter, execution)
    return command(recipient, MessageCode.CS06_ACTIVATE_FIRMWARE, body, counter)


def ecs52(recipient: bytes, counter: int = 1000, invoke_id: int = 0x20000001) -> bytes:
    code = MessageCode.ECS52_READ_ESME_CH_FIRMWARE_VERSION
    return command(recipient, code, ReadEsmeFirmwareVersionCommand(invoke_id), counter)


def gcs38(recipient: bytes, counter: int = 1000, sequence: int = 0) -> bytes:
    code = MessageCode.GCS38_READ_GSME_FIRMWARE_VERSION
    return command(recipient, code, ReadGsmeFirmwareVersionCommand(sequence), counter)


def cs08(recipient: bytes, counter: int = 1300, user_counter: int = 1000) -> bytes:
    code = MessageCode.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION
    payload = ReadDeviceFirmwareVersionCommand()
    return command(recipient, code, payload, counter, originator=ACB, srp=(SUPPLIER, user_counter))


def distribution(
    recipient: bytes, data: bytes, activate: bool = False, counter: int = 500
) -> bytes:
    code = MessageCode.SMETSLAB_FIRMWARE_DISTRIBUTION
    payload = FirmwareDistributionCommand(data, activate)
    return command(recipient, code, payload, counter, originator=ACB, srp=(SUPPLIER, 2000))


def device_spec(device_type: DeviceType, version: bytes = OLD, **overrides: Any) -> DeviceSpec:
    fields: dict[str, Any] = {
        "type": device_type,
        "model": f"{device_type}-1",
        "firmware_versions": [version.hex()],
        "image_size": 64,
        "ota_block_seconds": BLOCK_SECONDS,
        "wake_seconds": WAKE_SECONDS,
        "activation_seconds": 300,
    }
    fields.update(overrides)
    return DeviceSpec.model_validate(fields)


SMETS2_TYPES = (
    DeviceType.CHF,
    DeviceType.GPF,
    DeviceType.ESME,
    DeviceType.GSME,
    DeviceType.PPMID,
    DeviceType.HCALCS,
)
SMETS1_TYPES = (DeviceType.CHF, DeviceType.ESME, DeviceType.GSME)


def one_premises(
    rules: Sequence[FaultRule] = (),
    smets: int = 2,
    seed: int = 1,
    plan: FaultPlan | None = None,
    **overrides: Any,
) -> FleetBuild:
    """A fleet of one premises with every device type of that generation."""
    types = SMETS2_TYPES if smets == 2 else SMETS1_TYPES
    template = PremisesTemplate(
        name="test",
        count=1,
        smets=smets,  # type: ignore[arg-type]
        devices=[device_spec(t, **overrides) for t in types],
    )
    spec = FleetSpec(seed=seed, templates=[template])
    if plan is None:
        plan = FaultPlan(tuple(rules), seed) if rules else NO_FAULTS
    return build_fleet(spec, plan)


def premises_of(build: FleetBuild) -> PremisesModel:
    return next(iter(build.fleet.premises.values()))


def device(build: FleetBuild, device_type: DeviceType) -> FirmwareDeviceModel:
    premises = premises_of(build)
    return next(d for d in premises.devices.values() if d.profile.device_type is device_type)


def down(build: FleetBuild, data: bytes, now: datetime = T0) -> list[Output]:
    """`data` delivered to the premises' hub as the DSP sends it (`as_sent`)."""
    return down_as_is(build, as_sent(build, data), now)


def down_as_is(build: FleetBuild, data: bytes, now: datetime = T0) -> list[Output]:
    """`data` delivered byte for byte: a command with a bad or missing MAC or signature."""
    premises = premises_of(build)
    return build.fleet.handle_down(premises.ch_id, data, now)


def _keys(build: FleetBuild) -> KeyStore:
    if build.keys is None:
        raise AssertionError("the fleet's security is off: it has no keys")
    return build.keys


def macd(build: FleetBuild, data: bytes) -> bytes:
    """As the DSP sends it (D-SEC7): the General Signing APDU MACed by the ACB for its
    recipient; a signature it carries is kept."""
    envelope = read_envelope(data)
    signature = envelope.signature or None
    unprotected = write_envelope(envelope.header, envelope.payload, signature, None)
    recipient = gbcs.format_entity_id(envelope.header.recipient_id)
    return AcbKeys(_keys(build)).protect(unprotected, recipient)


def signed(build: FleetBuild, data: bytes, signer: bytes = SUPPLIER) -> bytes:
    """A critical command as DUIS has it (D-SEC8): signed by the user, then MACed."""
    envelope = read_envelope(data)
    precommand = write_envelope(envelope.header, envelope.payload, None, None)
    key = _keys(build).private_key(signer, KeyUse.DIGITAL_SIGNING)
    return macd(build, sign(precommand, key))


def as_sent(build: FleetBuild, data: bytes) -> bytes:
    """A command built above (its MAC a zero placeholder) as the DSP sends it to this
    fleet: unchanged with security off or when already MACed; otherwise a CS06 signed by
    its originator and every command MACed by the ACB."""
    try:
        envelope = read_envelope(data)
    except gbcs.GbcsError:  # not GBCS at all: a test of what a device makes of that
        return data
    placeholder = envelope.ciphering is not None and not any(envelope.ciphering.mac)
    if build.keys is None or not placeholder:
        return data
    if envelope.header.message_code == MessageCode.CS06_ACTIVATE_FIRMWARE:
        return signed(build, data, envelope.header.originator_id)
    return macd(build, data)


def uplinks(outputs: Sequence[Output]) -> list[GbcsMessage]:
    return [gbcs.decode(o.data) for o in outputs if isinstance(o, Uplink)]


def uplink_times(outputs: Sequence[Output]) -> list[datetime]:
    return [o.at for o in outputs if isinstance(o, Uplink)]


def events(outputs: Sequence[Output], kind: EventKind | None = None) -> list[DeviceEvent]:
    found = [o for o in outputs if isinstance(o, DeviceEvent)]
    return found if kind is None else [e for e in found if e.kind is kind]


def faults_fired(outputs: Sequence[Output]) -> list[FaultFired]:
    return [o for o in outputs if isinstance(o, FaultFired)]


def download_done(build: FleetBuild, start: datetime = T0) -> list[Output]:
    """Tick far enough for any test-sized download to finish."""
    return build.fleet.tick(start + timedelta(seconds=60))
