"""A sans-IO bench for the DSP core (`CoreBench`): seed data, service requests, and device
replies built as real GBCS from the commands the core sent (D8). The unit tests of the
core drive it; the store parity tests replay the events it recorded."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import gbcs
from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_bytes, to_compact
from contract.vocabulary import (
    CplEntry,
    CplStatus,
    Device,
    DeviceType,
    Registration,
    Role,
    SmiStatus,
    User,
)
from dsp_core.core import DspCore
from dsp_core.events import (
    Action,
    ClockTicked,
    CplChanged,
    DeviceMessageReceived,
    Event,
    RequestReceived,
    SendAlert,
    SendCommand,
    SendResponse,
)
from dsp_core.model import JournalEntry
from dsp_core.state import AddJournal, State
from dsp_core.turn import CoreConfig
from gbcs.keystore import KeyStore, emulated_store
from gbcs.ota import OtaHeader, build_ota_image
from gbcs.security import KeyUse
from tests.support.service_user import request_bytes

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
SUPPLIER = User("90-B3-D5-1F-30-01-00-00", frozenset({Role.IMPORT_SUPPLIER, Role.GAS_SUPPLIER}))
NETWORK = User(
    "90-B3-D5-1F-30-02-00-00", frozenset({Role.ELECTRICITY_DISTRIBUTOR, Role.GAS_TRANSPORTER})
)
MPXN = "1100000000001"
HUB = "00-DB-12-34-56-78-90-A2"
OLD, NEW, OTHER = "0123ABCD", "0123ABCE", "0123ABCF"


def image_for(version: str) -> bytes:
    header = OtaHeader(manufacturer_code=0x1234, image_type=1, file_version=int(version, 16))
    return build_ota_image(header, body=b"firmware " + version.encode() * 8).to_bytes()


def hash_of(version: str) -> str:
    return hashlib.sha256(image_for(version)).hexdigest().upper()


def device(
    suffix: str,
    kind: DeviceType,
    *,
    smets: int = 2,
    version: str = OLD,
    status: SmiStatus = SmiStatus.COMMISSIONED,
) -> Device:
    return Device(
        f"00-DB-12-34-56-78-90-{suffix}",
        kind,
        smets,
        "ACME",
        f"{kind}-1",
        version,
        status,
        HUB,
        MPXN,
    )


ESME = device("A0", DeviceType.ESME)
GSME = device("A1", DeviceType.GSME)
CHF = device("A2", DeviceType.CHF)
GPF = device("A3", DeviceType.GPF)
PPMID = device("A4", DeviceType.PPMID)


def cpl_for(dev: Device, version: str, status: CplStatus = CplStatus.CURRENT) -> CplEntry:
    return CplEntry(dev.manufacturer, dev.model, version, status, hash_of(version))


DEVICES = [ESME, GSME, CHF, GPF, PPMID]
SEED: dict[str, Any] = {
    "devices": DEVICES,
    "users": [SUPPLIER, NETWORK],
    "registrations": [Registration(MPXN, SUPPLIER.user_id, NETWORK.user_id)],
    "cpl": [cpl_for(d, v) for d in DEVICES for v in (OLD, NEW)],
}


PKI_SEED = 7
_BOTH = (KeyUse.DIGITAL_SIGNING, KeyUse.KEY_AGREEMENT)


def bench_keys(*, without: tuple[str, ...] = ()) -> KeyStore:
    """An emulated PKI for the bench: the ACB, both users and every device but `without`."""
    parties = [DCC_ACCESS_CONTROL_BROKER, SUPPLIER.user_id, NETWORK.user_id]
    parties += [d.device_id for d in DEVICES if d.device_id not in without]
    return emulated_store(PKI_SEED, [(to_bytes(p), _BOTH) for p in parties])


@dataclass
class CoreBench:
    config: CoreConfig = field(default_factory=CoreConfig)
    now: datetime = T0
    counter: int = 1000
    alert_counter: int = 5000
    journal: list[JournalEntry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    outputs: list[list[Action]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.core = DspCore(self.config)
        self.state = State()
        self.state.load(**SEED)

    # ---- driving ----------------------------------------------------------------

    def run(self, event: Event) -> list[Action]:
        actions = self.core.handle_event(event, self.state)
        self.events.append(event)
        self.outputs.append(actions)
        self.journal += [c.entry for c in self.state.take_changes() if isinstance(c, AddJournal)]
        return actions

    def request(
        self,
        srv: str,
        target: Device | str,
        body: dict[str, Any] | None = None,
        *,
        cv: int | None = None,
        user: User = SUPPLIER,
        counter: int | None = None,
    ) -> list[Action]:
        if counter is None:
            self.counter += 1
            counter = self.counter
        target_id = target.device_id if isinstance(target, Device) else target
        if cv is None:
            cv = {"11.3": 4, "11.1": 8, "11.4": 8, "8.2": 8, "12.1": 8}.get(srv, 1)
        message = request_bytes(user.user_id, srv, target_id, counter, body, variant=cv)
        return self.run(RequestReceived(to_compact(user.user_id), message, self.now))

    def read(self, target: Device, **kw: Any) -> list[Action]:
        return self.request("11.2", target, **kw)

    def activate(
        self, target: Device, version: str = NEW, execution: str | None = None, **kw: Any
    ) -> list[Action]:
        body: dict[str, Any] = {"firmware_hash": hash_of(version)}
        if execution is not None:
            body["execution_datetime"] = execution
        return self.request("11.3", target, body, **kw)

    def deliver(self, ch_id: str, data: bytes) -> list[Action]:
        return self.run(DeviceMessageReceived(ch_id, data, self.now))

    def tick(self, delta: timedelta) -> list[Action]:
        self.now += delta
        return self.run(ClockTicked(self.now))

    def cpl(self, entry: CplEntry) -> list[Action]:
        return self.run(CplChanged(entry, self.now))

    def smi(self, dev: Device) -> Device:
        found = self.state.device(dev.device_id)
        assert found is not None
        return found

    # ---- device side: answers built from the command sent ----------------------

    def answer(self, command: SendCommand, payload: gbcs.Payload) -> bytes:
        sent = gbcs.decode(command.data)
        header = sent.header
        reply = gbcs.GbcsHeader(
            gbcs.CraFlag.RESPONSE,
            header.originator_counter,
            header.recipient_id,
            header.originator_id,
            None,
            header.message_code,
            header.supplementary_remote_party_id,
            header.supplementary_remote_party_counter,
        )
        return gbcs.encode(gbcs.GbcsMessage(reply, payload, b""))

    def read_answer(self, command: SendCommand, version: str | None) -> gbcs.Payload:
        raw = None if version is None else bytes.fromhex(version)
        match gbcs.decode(command.data).payload:
            case gbcs.ReadEsmeFirmwareVersionCommand(invoke_id=invoke):
                result = (
                    gbcs.DataAccessResult.SUCCESS if raw else gbcs.DataAccessResult.HARDWARE_FAULT
                )
                return gbcs.ReadEsmeFirmwareVersionResponse(invoke, result, raw)
            case gbcs.ReadGsmeFirmwareVersionCommand(zcl_sequence=seq):
                status = gbcs.ZclStatus.SUCCESS if raw else gbcs.ZclStatus.HARDWARE_FAILURE
                return gbcs.ReadGsmeFirmwareVersionResponse(status, raw, seq)
            case _:
                code = gbcs.ReadFirmwareResponseCode
                return gbcs.ReadDeviceFirmwareVersionResponse(
                    raw or bytes(4), code.READ_SUCCESS if raw else code.READ_FAILURE
                )

    def reply_read(self, actions: list[Action], version: str | None) -> list[Action]:
        command = only(commands(actions))
        return self.deliver(command.ch_id, self.answer(command, self.read_answer(command, version)))

    def reply_activate(
        self, actions: list[Action], version: str | None, code: int = 0
    ) -> list[Action]:
        command = only(commands(actions))
        outcome = gbcs.ActivateFirmwareOutcome(
            gbcs.ActivateImageResponseCode(code),
            None if version is None else bytes.fromhex(version),
        )
        return self.deliver(command.ch_id, self.answer(command, outcome))

    def activation_alert(
        self, command: SendCommand, version: str, *, success: bool = True
    ) -> bytes:
        sent = gbcs.decode(command.data)
        payload = sent.payload
        assert isinstance(payload, gbcs.ActivateFirmwareCommand)
        assert payload.execution_datetime is not None
        self.alert_counter += 1
        header = gbcs.GbcsHeader(
            gbcs.CraFlag.ALERT,
            self.alert_counter,
            sent.header.recipient_id,
            sent.header.originator_id,
            None,
            gbcs.MessageCode.FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT,
        )
        code = (
            gbcs.AlertCode.FUTURE_DATED_EXECUTION_SUCCESS
            if success
            else gbcs.AlertCode.FUTURE_DATED_EXECUTION_FAILURE
        )
        response = (
            gbcs.ActivateImageResponseCode.SUCCESS
            if success
            else gbcs.ActivateImageResponseCode.HASH_MISMATCH
        )
        alert = gbcs.FirmwareActivationAlert(
            code,
            payload.execution_datetime,
            payload.originator_counter,
            response,
            bytes.fromhex(version),
        )
        return gbcs.encode(gbcs.GbcsMessage(header, alert, b""))

    def receipt(self, command: SendCommand, image_hash: str, version: str | None = None) -> bytes:
        self.alert_counter += 1
        header = gbcs.GbcsHeader(
            gbcs.CraFlag.ALERT,
            self.alert_counter,
            to_bytes(command.device_id),
            to_bytes(DCC_ACCESS_CONTROL_BROKER),
            None,
            gbcs.MessageCode.SMETSLAB_FIRMWARE_RECEIPT,
        )
        raw_version = None if version is None else bytes.fromhex(version)
        alert = gbcs.FirmwareReceiptAlert(bytes.fromhex(image_hash), raw_version)
        return gbcs.encode(gbcs.GbcsMessage(header, alert, b""))


def responses(actions: list[Action]) -> list[SendResponse]:
    return [a for a in actions if isinstance(a, SendResponse)]


def alerts(actions: list[Action]) -> list[SendAlert]:
    return [a for a in actions if isinstance(a, SendAlert)]


def commands(actions: list[Action]) -> list[SendCommand]:
    return [a for a in actions if isinstance(a, SendCommand)]


def codes(actions: list[Action]) -> list[str]:
    return [str(a.response.response_code) for a in responses(actions)]


def alert_codes(actions: list[Action]) -> list[tuple[str, str]]:
    return [(a.alert.alert_code, a.user_id) for a in alerts(actions)]


def only(items: list[SendCommand]) -> SendCommand:
    assert len(items) == 1, items
    return items[0]
