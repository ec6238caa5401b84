"""A lab's service-user connection: sends requests and CPL changes, and keeps, in order,
everything the DSP says to its users (responses, alerts) and about the CPL.

One connection may speak for several users: it subscribes to each one's responses and
alerts, and publishes each request on its user's request topic (DESIGN §3). What comes
in is kept as `Observation`s, stamped with the shared clock; `wait_for` waits for one
that passes a test, within device seconds. With the lab's security on it signs the
pre-commands of its Critical SRs and judges device messages (docs/security.md, "The
service user's side").
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from types import TracebackType
from typing import Any, Self

import aiomqtt

from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from bus.clock import ClockSetting, ScaledClock
from bus.errors import BusError
from contract.cpl import cpl_change_json
from contract.errors import MalformedMessageError
from contract.ids import to_compact, to_duis
from contract.requests import SendRequest, Srv, build_request, signed_pre_command_reply
from contract.responses import read_pre_command
from contract.topics import TopicKind, Topics
from contract.vocabulary import CplEntry
from hil.errors import SigningError
from hil.security import MessageVerdict, Signer, Verifier, verdict_on
from hil.taskgroups import unwrap_body_error

from .observations import Observation, ObservationKind

log = logging.getLogger(__name__)


class Counters:
    """The originator counters of a lab's requests: strictly increasing (DESIGN §3), from
    the wall clock in ms, so that they rise across runs on one store."""

    __slots__ = ("last",)

    def __init__(self, start: int) -> None:
        self.last = start

    def next(self) -> int:
        self.last += 1
        return self.last

    def skip_to(self, value: int) -> None:
        """Counters up to `value` were used elsewhere (a scenario run)."""
        self.last = max(self.last, value)


def client_link(
    url: str, topics: Topics, users: Iterable[str], client_id: str, mqtt_version: str = "auto"
) -> LinkConfig:
    subscriptions: list[str] = [topics.cpl_results]
    for user in users:
        compact = to_compact(user)
        subscriptions += [topics.responses(compact), topics.alerts(compact)]
    return LinkConfig(url, client_id, tuple(subscriptions), mqtt_version=mqtt_version)


class LabClient:
    """`async with LabClient(link, topics, clock, counters) as client:`."""

    def __init__(
        self,
        link: LinkConfig,
        topics: Topics,
        clock: ScaledClock,
        counters: Counters,
        security: tuple[Signer | None, Verifier | None] = (None, None),
    ) -> None:
        """`security`: the lab's signer and verifier when its fleet's security is on
        (hil.keys.lab_security); critical requests are then signed, and each device
        message judged (`verdicts`)."""
        self.bus = MqttAdapter(link)
        self.signer, self.verifier = security
        self.verdicts: list[MessageVerdict] = []
        self._to_sign: dict[str, SendRequest] = {}  # CV 4s whose pre-command to sign
        self.signing_failures: dict[str, str] = {}  # request ID -> why it was not signed
        self.topics = topics
        self.clock = clock
        self.received: list[Observation] = []
        self.counters = counters
        self._arrived = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        await self.bus.__aenter__()
        try:
            await self.bus.wait_connected()
            self._tasks = asyncio.TaskGroup()
            await self._tasks.__aenter__()
        except BaseException as exc:
            await self.bus.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._tasks.create_task(self._collect(), name=f"lab-client {self.bus.config.client_id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        try:
            assert self._tasks is not None
            await self._tasks.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            raise unwrap_body_error(group, exc) from None
        finally:
            await self.bus.__aexit__(exc_type, exc, tb)

    # ---- out ------------------------------------------------------------------------

    def request(
        self,
        user_id: str,
        srv: Srv,
        target: str | None,
        body: dict[str, Any],
        command_variant: int | None = None,
    ) -> SendRequest:
        """A request with this client's next originator counter (strictly increasing)."""
        counter = self.counters.next()
        return build_request(user_id, srv, target, counter, body, command_variant=command_variant)

    def send(self, request: SendRequest, *, sign: bool | None = None) -> None:
        """Publish `request`. With `sign` (by default: a Critical SR, CV 4, when the lab's
        security is on) the pre-command the DSP answers with is signed and sent back as
        CV 5 under the same request ID as soon as it comes (D-SEC23)."""
        if sign is None:
            sign = self.signer is not None and request.payload.get("command_variant") == 4
        if sign:
            if self.signer is None:
                raise SigningError(
                    f"request {request.request_id}: cannot sign, the lab's security is off"
                )
            self._to_sign[request.request_id] = request  # before the answer can come
        self._publish(request)

    def _publish(self, request: SendRequest) -> None:
        self.bus.publish(self.topics.request(to_compact(request.user_id)), request.to_bytes())

    def change_cpl(self, entry: CplEntry) -> None:
        """A CPL change on `{root}/dsp/cpl` (D13); its result comes as an observation."""
        self.bus.publish(self.topics.cpl, cpl_change_json(entry))

    # ---- in -------------------------------------------------------------------------

    async def wait_beyond(self, count: int, timeout: float | None) -> None:
        """Return when more than `count` observations are kept, or after `timeout` s."""
        if len(self.received) > count:
            return
        self._arrived.clear()
        try:
            async with asyncio.timeout(timeout):
                while len(self.received) <= count:
                    await self._arrived.wait()
                    self._arrived.clear()
        except TimeoutError:
            return

    async def wait_for(
        self, test: Callable[[Observation], bool], within: float, start: int = 0
    ) -> Observation:
        """The first observation from number `start` on that passes `test`, within
        `within` device seconds; `TimeoutError` when none comes."""
        deadline = self.clock.now() + timedelta(seconds=within)
        seen = start
        while True:
            for observation in self.received[seen:]:
                if test(observation):
                    return observation
            seen = max(seen, len(self.received))
            remaining = self.clock.seconds_until(deadline)
            if remaining <= 0:
                raise TimeoutError(f"nothing that fits within {within} device seconds")
            await self.wait_beyond(seen, remaining)

    async def _collect(self) -> None:
        while (message := await self.bus.next_message(self._stop)) is not None:
            if message.topic == self.topics.clock:
                self._follow_clock(message)
            elif not self._subscribed(message.topic):
                # amqtt 0.12 hands a client the retained messages of other clients'
                # subscriptions (a hub's status, which the DSP follows, D-E1)
                log.info("lab client: skipped %s, not one of its subscriptions", message.topic)
            else:
                self.received.append(self._secured(self._observe(message)))
                self._arrived.set()
            self.bus.ack(message)

    def _subscribed(self, topic: str) -> bool:
        return any(aiomqtt.Topic(topic).matches(f) for f in self.bus.config.subscriptions)

    def _follow_clock(self, message: BusMessage) -> None:
        """The retained clock (amqtt hands it to every new subscriber): followed, as
        every process follows it (DESIGN §6)."""
        try:
            self.clock.update(ClockSetting.from_json(message.payload))
        except BusError as exc:
            log.warning("lab client: bad clock message: %s", exc)

    def _secured(self, observation: Observation) -> Observation:
        """Judge a device message; sign a pre-command asked for (then kept as one)."""
        if observation.kind not in (ObservationKind.RESPONSE, ObservationKind.ALERT):
            return observation
        content = observation.content
        body = content.get("body")
        body = body if isinstance(body, dict) else {}
        self._judge(observation, body)
        request = self._to_sign.get(str(content.get("request_id")))
        if observation.kind is not ObservationKind.RESPONSE or request is None:
            return observation
        try:
            pre = read_pre_command(body)
        except MalformedMessageError as exc:
            log.warning("lab client: %s: %s", request.request_id, exc)
            del self._to_sign[request.request_id]
            return observation
        if pre is None:
            if content.get("response_code") != "I99":  # answered without a pre-command
                del self._to_sign[request.request_id]
            return observation
        self._sign_and_send(request, pre.data)
        # never the device's answer, signed or not (a failure is in signing_failures)
        return replace(observation, kind=ObservationKind.PRE_COMMAND)

    def _sign_and_send(self, request: SendRequest, pre_command: bytes) -> None:
        assert self.signer is not None
        target = str(request.payload["request_id"]).split(":")[1]
        del self._to_sign[request.request_id]
        try:
            signed = self.signer.sign(pre_command, request.user_id)
        except SigningError as exc:
            log.error("lab client: device %s: %s (request %s)", target, exc, request.request_id)
            self.signing_failures[request.request_id] = str(exc)
            return
        self._publish(
            signed_pre_command_reply(request.user_id, Srv(request.srv), request.request_id, signed)
        )
        log.info("lab client: device %s: signed pre-command sent (%s)", target, request.request_id)

    def _judge(self, observation: Observation, body: dict[str, Any]) -> None:
        if self.verifier is None:
            return
        content = observation.content
        name = content.get("request_id") or content.get("alert_code")
        device = content.get("device_id")
        verdict = verdict_on(
            self.verifier,
            body,
            what=f"{observation.kind} {name}",
            device_id=device if isinstance(device, str) else None,
            at=observation.at,
        )
        if verdict is not None:
            self.verdicts.append(verdict)

    def _observe(self, message: BusMessage) -> Observation:
        now = self.clock.now()
        try:
            route = self.topics.parse(message.topic)
            content = json.loads(message.payload)
            if not isinstance(content, dict):
                raise ValueError("not a JSON object")
        except (BusError, ValueError) as exc:
            log.warning("lab client: unreadable message on %s: %s", message.topic, exc)
            raw = {"topic": message.topic, "reason": str(exc), "payload_hex": message.payload.hex()}
            return Observation(ObservationKind.UNREADABLE, None, raw, now)
        user = None if route.entity is None else to_duis(route.entity)
        return Observation(_KINDS.get(route.kind, ObservationKind.UNREADABLE), user, content, now)


_KINDS = {
    TopicKind.RESPONSES: ObservationKind.RESPONSE,
    TopicKind.ALERTS: ObservationKind.ALERT,
    TopicKind.CPL_RESULTS: ObservationKind.CPL_RESULT,
}


class ServiceUser:
    """One lab user on a `LabClient`, for tests written in Python (the pytest plugin's
    `service_user`): send a request, then wait for its answer or an alert."""

    def __init__(self, client: LabClient, user_id: str) -> None:
        self.client = client
        self.user_id = to_duis(user_id)

    def send(
        self,
        srv: Srv | str,
        target: str | None = None,
        body: dict[str, Any] | None = None,
        *,
        command_variant: int | None = None,
        sign: bool | None = None,
    ) -> str:
        """Send a request; returns its request ID. With `sign` (by default: a Critical SR
        when the lab's security is on) its pre-command is signed with the user's key and
        sent back as CV 5; `response` then waits for the device's answer."""
        request = self.client.request(
            self.user_id, Srv(srv), target, body or {}, command_variant=command_variant
        )
        self.client.send(request, sign=sign)
        return request.request_id

    def verdicts(self, request_id: str | None = None) -> list[MessageVerdict]:
        """The verdicts on the device messages received so far (about `request_id`)."""
        found = self.client.verdicts
        return [v for v in found if request_id is None or v.what.endswith(f" {request_id}")]

    def change_cpl(self, entry: CplEntry) -> None:
        self.client.change_cpl(entry)

    async def response(
        self, request_id: str, *, within: float = 300.0, final: bool = True
    ) -> dict[str, Any]:
        """The first response to `request_id` (with `final`, the first but I99); a
        pre-command this client could not sign raises `SigningError` naming why."""

        def fits(observation: Observation) -> bool:
            content = observation.content
            failure = self.client.signing_failures.get(request_id)
            if failure is not None:
                raise SigningError(f"request {request_id}: {failure}")
            if observation.kind is not ObservationKind.RESPONSE:
                return False
            acknowledgement = content.get("response_code") == "I99"
            return content.get("request_id") == request_id and not (final and acknowledgement)

        return (await self.client.wait_for(fits, within)).content

    async def alert(
        self, code: str, device_id: str | None = None, *, within: float = 300.0
    ) -> dict[str, Any]:
        """The first alert `code` (about `device_id`) this user received."""
        device = None if device_id is None else to_duis(device_id)

        def fits(observation: Observation) -> bool:
            content = observation.content
            return (
                observation.kind is ObservationKind.ALERT
                and observation.user_id == self.user_id
                and content.get("alert_code") == code
                and (device is None or content.get("device_id") == device)
            )

        return (await self.client.wait_for(fits, within)).content
