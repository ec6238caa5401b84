"""One in-memory lab loop: the sans-IO DSP core (over an in-memory `State`) and the
emulated fleet joined in one process, on a manual clock, as they are over MQTT.

The loop carries requests to the core, the core's commands to the fleet (down), the
fleet's uplinks back to the core (up), and the core's responses and alerts for its
service user (the fleet's first user, the supplier) to a service-user model, first in
first out. Time moves only when nothing is left to carry: to the next due time of the
fleet, of the model and of the core's open requests (their deadlines).

Two ways to drive it:

    loop = LabLoop(build)                         # a test writes the requests itself
    loop.request("11.2", device_id, {})
    loop.advance(timedelta(minutes=5))
    loop.responses, loop.alerts                   # every user's, as the core sent them

    loop.run(CampaignModel(plan), limit=timedelta(days=2))   # a model drives it

and the hooks for what differs between tests: `lose` drops an uplink on its way up (a
WAN fault), `on_hub` sees the hub's bytes down and up (the conformance model's own).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from contract.ids import to_compact
from contract.requests import SendRequest, Srv, signed_pre_command_reply
from contract.responses import read_pre_command
from dsp_core.core import DspCore
from dsp_core.events import (
    ClockTicked,
    DeviceMessageReceived,
    Event,
    RequestReceived,
    SendAlert,
    SendCommand,
    SendResponse,
)
from dsp_core.keys import secured
from dsp_core.state import State
from dsp_core.turn import CoreConfig
from emulators.actions import Uplink
from emulators.fleet import FleetBuild
from hil.conformance import Source
from hil.keys import KeyStoreSigner
from tests.support.service_user import request_bytes, request_id

T0 = datetime(2031, 1, 1, tzinfo=UTC)

UplinkFilter = Callable[[Uplink], bool]  # True: the uplink is lost on its way up
HubObserver = Callable[[Source, bytes, datetime], None]  # the hub's bytes, down or up


class ServiceUserModel(Protocol):
    """A sans-IO service user the loop drives (hil's `CampaignModel`, `ConformanceModel`):
    it sees its responses and alerts as the JSON on the bus and answers with requests."""

    @property
    def finished(self) -> bool: ...

    def start(self, now: datetime, /) -> list[SendRequest]: ...

    def on_response(self, content: Mapping[str, Any], now: datetime, /) -> list[SendRequest]: ...

    def on_alert(self, content: Mapping[str, Any], now: datetime, /) -> list[SendRequest]: ...

    def on_tick(self, now: datetime, /) -> list[SendRequest]: ...

    def next_due(self) -> datetime | None: ...


class LabLoop:
    """The core and the fleet `build` on a manual clock from `start`, seeded with the
    fleet's SMI, users, registrations and CPL."""

    def __init__(
        self,
        build: FleetBuild,
        *,
        lose: UplinkFilter | None = None,
        on_hub: HubObserver | None = None,
        start: datetime = T0,
    ) -> None:
        self.build = build
        # the DSP as the ACB when the fleet's security is on (build.keys), as before if off
        self.core = DspCore(secured(CoreConfig(), build.keys))
        self.state = State()
        seed = build.seed
        self.state.load(
            devices=seed.devices, users=seed.users, registrations=seed.registrations, cpl=seed.cpl
        )
        self.user = seed.users[0].user_id
        self.start = start
        self.now = start
        self.lose = lose
        self.on_hub = on_hub
        self.model: ServiceUserModel | None = None
        self.queue: deque[tuple[str, Any]] = deque()
        self.responses: list[SendResponse] = []  # every user's
        self.alerts: list[SendAlert] = []  # every user's
        self.counter = 0  # the originator counter of `request`

    # ---- the wires -----------------------------------------------------------------

    def core_event(self, event: Event) -> None:
        """The core takes `event`; its commands are queued for the fleet, and its
        responses and alerts for the user are queued for the model (if one runs)."""
        for action in self.core.handle_event(event, self.state):
            match action:
                case SendCommand(ch_id=ch_id, data=data):
                    self.queue.append(("down", (ch_id, data)))
                case SendResponse(user_id=user, response=response):
                    self.responses.append(action)
                    if user == self.user and self.model is not None:
                        self.queue.append(("response", response.to_json()))
                case SendAlert(user_id=user, alert=alert):
                    self.alerts.append(action)
                    if user == self.user and self.model is not None:
                        self.queue.append(("alert", alert.to_json()))
        self.state.take_changes()

    def publish(self, sends: Iterable[SendRequest]) -> None:
        """The model's requests, to the core."""
        for send in sends:
            assert send.user_id == self.user
            self.core_event(RequestReceived(to_compact(send.user_id), send.to_bytes(), self.now))

    def drain(self) -> None:
        """Carries what is queued, first in first out, until nothing is left."""
        while self.queue:
            kind, item = self.queue.popleft()
            match kind:
                case "down":
                    ch_id, data = item
                    if self.on_hub is not None:
                        self.on_hub(Source.HUB_DOWN, data, self.now)
                    hub = bytes.fromhex(to_compact(ch_id))
                    self._uplinks(self.build.fleet.handle_down(hub, data, self.now))
                case "up":
                    if self.on_hub is not None:
                        self.on_hub(Source.HUB_UP, item.data, self.now)
                    if self.lose is None or not self.lose(item):
                        self.core_event(DeviceMessageReceived(item.ch_id, item.data, self.now))
                case "response":
                    assert self.model is not None
                    self.publish(self.model.on_response(_wire(item), self.now))
                case "alert":
                    assert self.model is not None
                    self.publish(self.model.on_alert(_wire(item), self.now))

    def _uplinks(self, outputs: Iterable[object]) -> None:
        for output in outputs:
            if isinstance(output, Uplink):
                self.queue.append(("up", output))

    # ---- a test as the service user ----------------------------------------------------

    def request(self, srv: str, target: str, body: Mapping[str, object], variant: int = 1) -> str:
        """An SR of the user's, written by hand, carried until nothing moves; its ID. The
        pre-command a Critical SR's CV 4 is answered with (the fleet's security on) is
        signed with the user's key and sent back as CV 5, as a service user does (D-SEC8)."""
        self.counter += 1
        payload = request_bytes(self.user, srv, target, self.counter, body, variant=variant)
        self.core_event(RequestReceived(to_compact(self.user), payload, self.now))
        self.drain()
        found = request_id(self.user, target, self.counter)
        pre_command = next(
            (
                read_pre_command(sent.response.body)
                for sent in self.responses
                if sent.response.request_id == found and "pre_command" in sent.response.body
            ),
            None,
        )
        if pre_command is not None and self.build.keys is not None:
            signed = KeyStoreSigner(self.build.keys).sign(pre_command.data, self.user)
            self.publish([signed_pre_command_reply(self.user, Srv(srv), found, signed)])
            self.drain()
        return found

    def advance(self, delta: timedelta) -> None:
        """The clock moves on by `delta`, stopping at every due time on the way."""
        end = self.now + delta
        while (due := self.next_due()) is not None and due <= end:
            self.step(max(self.now, due))
        self.step(end)

    # ---- a model as the service user ---------------------------------------------------

    def run(
        self,
        model: ServiceUserModel,
        *,
        limit: timedelta,
        progress: Callable[[], object] = lambda: "",
    ) -> None:
        """`model` started and driven until it has finished; within `limit` of device
        time from the start (`progress` says how far it got, should it not)."""
        self.model = model
        self.publish(model.start(self.now))
        self.drain()
        name = type(model).__name__
        while not model.finished:
            due = self.next_due()
            assert due is not None, f"stuck: {name} waits for nothing; {progress()}"
            assert due - self.start < limit, f"{name} not finished in {limit}; {progress()}"
            self.step(max(self.now, due))

    # ---- time --------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """The earliest of the fleet's next due time, the model's, and the deadlines of
        the core's open requests."""
        model = None if self.model is None else self.model.next_due()
        core = min((t.deadline for t in self.state.requests.values() if t.is_open), default=None)
        due = (self.build.fleet.next_due(), model, core)
        return min((t for t in due if t is not None), default=None)

    def step(self, now: datetime) -> None:
        """At `now`: the fleet's due work, the core's clock, the model's."""
        self.now = now
        self._uplinks(self.build.fleet.tick(now))
        self.drain()
        self.core_event(ClockTicked(now))
        self.drain()
        if self.model is not None:
            self.publish(self.model.on_tick(now))
            self.drain()

    # ---- the fleet ---------------------------------------------------------------------

    def running(self, device_id: str) -> str:
        """The firmware version the emulated device runs (what the SMI should say)."""
        model = self.build.fleet.device(bytes.fromhex(to_compact(device_id)))
        return model.running_version.hex().upper()


def _wire(content: dict[str, Any]) -> dict[str, Any]:
    """The JSON as it travels (what a service user on the bus would parse)."""
    loaded: dict[str, Any] = json.loads(json.dumps(content))
    return loaded
