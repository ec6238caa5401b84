"""Random sequences of CPL changes, device reports, losses, retries, late and duplicated
responses (hypothesis stateful testing), checking the invariants of R5 and R8:

1. once a device's report has been processed, the device is not Suspended while its SMI
   version matches a Current CPL entry (R5);
2. no report is applied twice: one device-message journal entry per distinct report,
   and a redelivered one changes nothing (R8);
3. every alert sent has its journal entry, and every journal alert was sent;
4. a request gets at most one final answer, except a time-out followed by the late
   response (R8).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import gbcs
from contract.vocabulary import CplStatus, Device, SmiStatus
from dsp_core.events import Action, SendCommand
from dsp_core.model import JournalKind
from tests.support.core_bench import (
    ESME,
    GPF,
    GSME,
    NEW,
    OLD,
    OTHER,
    CoreBench,
    alerts,
    commands,
    cpl_for,
    only,
    responses,
)

DEVICES = st.sampled_from([ESME, GSME])
VERSIONS = st.sampled_from([OLD, NEW, OTHER])


class DspMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lab = CoreBench()
        self.running = {ESME.device_id: OLD, GSME.device_id: OLD}  # what devices really run
        self.lost: list[tuple[str, bytes]] = []
        self.delivered: list[tuple[str, bytes]] = []
        self.sent_alerts: Counter[tuple[str, str, str]] = Counter()
        self.finals: Counter[str] = Counter()
        self.late: set[str] = set()

    # ---- helpers ----------------------------------------------------------------

    def _record(self, actions: list[Action]) -> list[Action]:
        for sent in alerts(actions):
            self.sent_alerts[(sent.user_id, sent.alert.alert_code, sent.alert.device_id)] += 1
        for answer in responses(actions):
            response = answer.response
            if response.response_code != "I99" and response.request_id is not None:
                if response.body.get("late"):
                    self.late.add(response.request_id)
                else:
                    self.finals[response.request_id] += 1
        return actions

    def _reply(self, command: SendCommand, payload: gbcs.Payload, *, lose: bool) -> None:
        data = self.lab.answer(command, payload)
        if lose:
            self.lost.append((command.ch_id, data))
            self._record(self.lab.tick(timedelta(hours=2)))
            return
        self._deliver(command.ch_id, data)

    def _deliver(self, ch_id: str, data: bytes) -> None:
        self._record(self.lab.deliver(ch_id, data))
        self.delivered.append((ch_id, data))
        self._check_processed(gbcs.decode(data))

    def _check_processed(self, message: gbcs.GbcsMessage) -> None:
        device_id = gbcs.format_entity_id(message.header.originator_id)
        device = self.lab.state.devices[device_id]
        version = _reported(message)
        if device.device_type is GPF.device_type or version is None:
            return
        entry = self.lab.state.cpl_entry(device, device.firmware_version)
        if entry is not None and entry.status is CplStatus.CURRENT:
            assert device.status is not SmiStatus.SUSPENDED, (device, entry)

    # ---- rules ------------------------------------------------------------------

    @rule(device=DEVICES, version=VERSIONS, status=st.sampled_from(list(CplStatus)))
    def change_cpl(self, device: Device, version: str, status: CplStatus) -> None:
        self._record(self.lab.cpl(cpl_for(device, version, status)))

    @rule(device=DEVICES, version=VERSIONS, lose=st.booleans())
    def activate(self, device: Device, version: str, lose: bool) -> None:
        self.running[device.device_id] = version
        command = only(commands(self._record(self.lab.activate(device, version))))
        outcome = gbcs.ActivateFirmwareOutcome(
            gbcs.ActivateImageResponseCode.SUCCESS, bytes.fromhex(version)
        )
        self._reply(command, outcome, lose=lose)

    @rule(device=DEVICES, lose=st.booleans())
    def retry_activation(self, device: Device, lose: bool) -> None:
        version = self.running[device.device_id]
        command = only(commands(self._record(self.lab.activate(device, version))))
        code = gbcs.ActivateImageResponseCode.NO_IMAGE_HELD
        self._reply(command, gbcs.ActivateFirmwareOutcome(code, bytes.fromhex(version)), lose=lose)

    @rule(device=DEVICES, lose=st.booleans())
    def read_version(self, device: Device, lose: bool) -> None:
        actions = self._record(self.lab.read(device))
        if not commands(actions):  # refused (only with MP105 off, or a non-communicable status)
            return
        command = only(commands(actions))
        self._reply(
            command, self.lab.read_answer(command, self.running[device.device_id]), lose=lose
        )

    @rule(version=VERSIONS)
    def read_gpf_mirror(self, version: str) -> None:
        before = self.lab.state.devices[GSME.device_id]
        command = only(commands(self._record(self.lab.read(GPF))))
        self._deliver(
            command.ch_id, self.lab.answer(command, self.lab.read_answer(command, version))
        )
        assert self.lab.state.devices[GSME.device_id] == before  # R6

    @precondition(lambda self: self.lost)
    @rule(index=st.integers(min_value=0))
    def deliver_late(self, index: int) -> None:
        ch_id, data = self.lost.pop(index % len(self.lost))
        self._deliver(ch_id, data)

    @precondition(lambda self: self.delivered)
    @rule(index=st.integers(min_value=0))
    def duplicate(self, index: int) -> None:
        ch_id, data = self.delivered[index % len(self.delivered)]
        smi = dict(self.lab.state.devices)
        assert self.lab.deliver(ch_id, data) == []
        assert self.lab.state.devices == smi

    @rule(minutes=st.integers(min_value=1, max_value=180))
    def tick(self, minutes: int) -> None:
        self._record(self.lab.tick(timedelta(minutes=minutes)))

    # ---- invariants ---------------------------------------------------------------

    @invariant()
    def each_report_applied_once(self) -> None:
        distinct = {data for _, data in self.delivered}
        applied = [e for e in self.lab.journal if e.kind is JournalKind.DEVICE_MESSAGE]
        assert len(applied) == len(distinct)

    @invariant()
    def every_alert_is_journalled(self) -> None:
        journalled = Counter(
            (e.user_id or "", e.code or "", e.device_id or "")
            for e in self.lab.journal
            if e.kind is JournalKind.ALERT
        )
        assert journalled == self.sent_alerts

    @invariant()
    def one_final_answer_per_request(self) -> None:
        assert all(count == 1 for count in self.finals.values()), self.finals


def _reported(message: gbcs.GbcsMessage) -> str | None:
    version = getattr(message.payload, "firmware_version", None)
    return None if version is None else bytes(version).hex().upper()


DspMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestDspMachine = DspMachine.TestCase
