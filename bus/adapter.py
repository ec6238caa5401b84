"""The MQTT adapter: one connection, kept up for the life of a process.

    async with MqttAdapter(LinkConfig("mqtt://127.0.0.1:1883", "smetslab-dsp", subs)) as bus:
        bus.publish(topic, payload)            # queued; sent when connected, QoS 1
        async for message in bus.messages():   # survives reconnections
            ...handle it, publish what it causes...
            bus.ack(message)                   # only now does the broker forget it

- MQTT 5 when the broker accepts it, 3.1.1 otherwise (amqtt answers 5 with "unsupported
  protocol version", or not at all), decided again each time the broker comes back
  (`bus/connection.py`, which also paces every attempt and says each change once).
- Persistent session: a fixed client ID, clean start off and a session expiry (MQTT 5)
  or clean session off (3.1.1), so QoS 1 messages sent while this process restarts are
  kept by the broker and delivered when it is back.
- Application acknowledgement: a message is PUBACKed after the consumer handled it,
  not on receipt, so a process that dies with messages unhandled gets them again. aiomqtt
  2.5 has no public switch for this (aiomqtt issue #345, PR #346 open); paho-mqtt has, and
  the adapter reaches it through the aiomqtt client's paho client (`_paho`), in one place.
- Identity and TLS from the URL (`bus/identity.py`): a user name and password (or a
  password file) go to the broker through the client's own credentials, `mqtts://` opens
  a TLS connection with an `ssl` context (the CA, a client certificate); the URL is only
  ever logged with the password masked.
- Reconnection with capped exponential back-off and jitter between every attempt;
  outgoing messages wait in the outbox while disconnected. Delivery is at least once: a
  message whose PUBACK was lost is sent again, and consumers are idempotent (the DSP's
  report keys, counters).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from contract.topics import shared

from .backoff import Backoff
from .connection import V5, V311, ConnectPlan, Failure
from .errors import BrokerUnavailableError
from .identity import BrokerAddress, mask_url
from .waiting import first_of

log = logging.getLogger(__name__)

QOS = 1
UNSUPPORTED_PROTOCOL = frozenset({1, 132})  # 3.1.1 CONNACK 1, MQTT 5 reason 0x84
_PROTOCOLS = {V5: aiomqtt.ProtocolVersion.V5, V311: aiomqtt.ProtocolVersion.V311}
NO_CONNACK = "Operation timed out"  # aiomqtt's words for a CONNECT never answered


@dataclass(frozen=True, slots=True)
class LastWill:
    """What the broker publishes for this client when its connection ends without a
    DISCONNECT (the process killed, the host gone): a bridge's hub offline (D-E5)."""

    topic: str
    payload: bytes
    retain: bool = True


@dataclass(frozen=True, slots=True)
class LinkConfig:
    url: str
    client_id: str
    subscriptions: tuple[str, ...] = ()
    shared_group: str | None = None  # subscribe through $share/{group}/ on MQTT 5
    shared_filters: tuple[str, ...] = ()  # which of `subscriptions` are shared
    session_expiry: int = 3600  # seconds the broker keeps the session while we are away
    persistent: bool = True  # False: a clean session, gone at disconnect (a look, not a part)
    will: LastWill | None = None
    max_inflight: int = 64  # QoS 1 publishes awaiting PUBACK at once
    keepalive: int = 30
    timeout: float = 5.0  # for CONNACK, SUBACK and PUBACK
    mqtt_version: str = "auto"  # or "5", or "3.1.1" (the embedded broker)
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(frozen=True, slots=True)
class BusMessage:
    topic: str
    payload: bytes
    retain: bool = False
    mid: int = 0
    qos: int = QOS
    session: int = 0  # which connection brought it; an ack is only valid on that one
    received: float = 0.0  # wall clock (time.time()) when it arrived


@dataclass(frozen=True, slots=True)
class _Outgoing:
    sequence: int
    topic: str
    payload: bytes
    retain: bool
    confirmed: asyncio.Future[None] | None = None  # done once the broker has PUBACKed it


class MqttAdapter:
    """A persistent, self-reconnecting MQTT link with an outbox and an inbox."""

    def __init__(self, config: LinkConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.address = BrokerAddress.parse(config.url)
        self._password = self.address.password_value()
        self._tls = self.address.tls.context() if self.address.tls is not None else None
        self._rng = rng or random.Random()
        self.plan = ConnectPlan(config.mqtt_version, config.backoff, self._rng)
        self.connected = asyncio.Event()
        self.attempts = 0  # connection attempts made
        self.last_failure: str | None = None  # why the last attempt failed, for errors
        self._client: aiomqtt.Client | None = None
        self._session = 0
        self._connecting = False  # in CONNECT, not yet connected
        self._inbox: deque[BusMessage] = deque()
        self._arrived = asyncio.Event()
        self._outbox: deque[_Outgoing] = deque()
        self._failed: list[_Outgoing] = []  # sends the last connection did not confirm
        self._sequence = 0
        self._outbox_ready = asyncio.Event()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(config.max_inflight)
        self._tasks: asyncio.TaskGroup | None = None
        self._running: list[asyncio.Task[None]] = []

    # ---- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        name = self.config.client_id
        self._running = [
            self._tasks.create_task(self._link(), name=f"mqtt-link {name}"),
            self._tasks.create_task(self._publisher(), name=f"mqtt-publisher {name}"),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.drain()
        finally:
            for task in self._running:
                task.cancel()
            assert self._tasks is not None
            await self._tasks.__aexit__(None, None, None)

    async def wait_connected(
        self, timeout: float = 10.0, stop: asyncio.Event | None = None
    ) -> bool:
        """Until connected (True), or `stop` is set first (False);
        `BrokerUnavailableError` after `timeout` seconds."""
        if stop is None:
            stop = asyncio.Event()
        await first_of(self.connected.wait(), stop.wait(), timeout=timeout)
        if self.connected.is_set():
            return True
        if stop.is_set():
            return False
        why = (
            f" ({self.last_failure})" if self.last_failure and self._told(self.last_failure) else ""
        )
        raise BrokerUnavailableError(
            f"{self.config.client_id}: no connection to {self.address.url} in {timeout} s{why}"
        )

    @staticmethod
    def _told(failure: str) -> bool:
        """Whether a failure says more than "nothing listens there" (refused, TLS)."""
        return not failure.startswith(str(Failure.UNREACHABLE)) or "SSL" in failure

    async def drain(self, timeout: float | None = 30.0) -> None:
        """Wait until every queued message has been PUBACKed."""
        async with asyncio.timeout(timeout):
            while self._outbox or self._inflight or self._failed:
                self._idle.clear()
                await self._idle.wait()

    # ---- in and out -----------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue one QoS 1 message; it is sent (again after a reconnection) until acked."""
        self._queue(topic, payload, retain, None)

    def publish_confirmed(self, topic: str, payload: bytes) -> asyncio.Future[None]:
        """`publish`, and a future done once the broker has acknowledged this message
        (PUBACK): a sender that keeps what it sends until then (the DSP's outbox) knows
        when it may forget it. The future is never failed: the message is sent again
        until it is acknowledged."""
        confirmed = asyncio.get_running_loop().create_future()
        self._queue(topic, payload, False, confirmed)
        return confirmed

    def _queue(
        self, topic: str, payload: bytes, retain: bool, confirmed: asyncio.Future[None] | None
    ) -> None:
        self._sequence += 1
        self._outbox.append(_Outgoing(self._sequence, topic, payload, retain, confirmed))
        self._idle.clear()
        self._outbox_ready.set()

    async def messages(self) -> AsyncIterator[BusMessage]:
        while True:
            while not self._inbox:
                self._arrived.clear()
                await self._arrived.wait()
            yield self._inbox.popleft()

    async def next_message(
        self, stop: asyncio.Event, timeout: float | None = None
    ) -> BusMessage | None:
        """The next message; None once `stop` is set or after `timeout` seconds. Messages
        are only taken here, never inside a wait, so a cancelled caller loses none (and
        one never acked comes again to the next session)."""
        if not self._inbox and not stop.is_set():
            self._arrived.clear()
            await first_of(self._arrived.wait(), stop.wait(), timeout=timeout)
        if stop.is_set() or not self._inbox:
            return None
        return self._inbox.popleft()

    def take(self, limit: int) -> list[BusMessage]:
        """Up to `limit` messages already received, oldest first, without waiting."""
        inbox = self._inbox
        return [inbox.popleft() for _ in range(min(limit, len(inbox)))]

    def pending(self) -> int:
        """Messages received and not yet taken by the consumer."""
        return len(self._inbox)

    def oldest_pending(self) -> float | None:
        """When (wall clock, `time.time()`) the oldest message not yet taken arrived."""
        return self._inbox[0].received if self._inbox else None

    def ack(self, message: BusMessage) -> None:
        """Tell the broker `message` is handled. On a newer connection than the one it came
        on, the broker has already queued it again; the consumer will see it once more."""
        if message.qos == 0 or self._client is None or message.session != self._session:
            return
        self._paho(self._client).ack(message.mid, message.qos)

    # ---- the connection -------------------------------------------------------------

    async def _link(self) -> None:
        """Connect, serve the session, and when it ends or cannot start, try again when
        the plan says (`bus/connection.py`)."""
        while True:
            attempt = self.plan.next_attempt()
            if attempt.delay:
                await asyncio.sleep(attempt.delay)
            self.attempts += 1
            try:
                await self._session_once()
                failure, detail = Failure.LOST, "the session ended"
            except aiomqtt.MqttError as exc:
                failure, detail = self._failure(exc), str(exc)
            finally:
                self.connected.clear()
                self._connecting = False
            self.last_failure = f"{failure}: {mask_url(detail)}"
            for said in self.plan.failed(failure, mask_url(detail), self._where):
                log.log(said.level, "%s: %s", self._who, said.text)

    async def _session_once(self) -> None:
        client = self._new_client()
        self._connecting = True
        async with client:
            self._connecting = False
            self._client = client
            self._session += 1
            await self._subscribe(client)
            self.connected.set()
            said = self.plan.connected(self._where)
            log.log(said.level, "%s: %s", self._who, said.text)
            async for message in client.messages:
                self._inbox.append(_received(message, self._session))
                self._arrived.set()

    def _failure(self, exc: aiomqtt.MqttError) -> Failure:
        """What went wrong, as the plan needs to know it."""
        if not self._connecting:
            return Failure.LOST
        if isinstance(exc, MqttConnectError):
            code = exc.rc.value if isinstance(exc.rc, ReasonCode) else exc.rc
            return Failure.PROTOCOL_REFUSED if code in UNSUPPORTED_PROTOCOL else Failure.REFUSED
        return Failure.NO_CONNACK if str(exc) == NO_CONNACK else Failure.UNREACHABLE

    def _new_client(self) -> aiomqtt.Client:
        options: dict[str, Any] = {}
        keep = self.config.persistent
        if self.plan.version == V5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self.config.session_expiry if keep else 0
            options = {"clean_start": not keep, "properties": properties}
        else:
            options = {"clean_session": not keep}
        will = self.config.will
        if will is not None:
            options["will"] = aiomqtt.Will(will.topic, will.payload, QOS, will.retain)
        client = aiomqtt.Client(
            self.address.host,
            self.address.port,
            username=self.address.username,
            password=self._password,
            tls_context=self._tls,
            identifier=self.config.client_id,
            protocol=_PROTOCOLS[self.plan.version],
            keepalive=self.config.keepalive,
            max_inflight_messages=self.config.max_inflight,
            timeout=self.config.timeout,
            **options,
        )
        client.pending_calls_threshold = self.config.max_inflight + 1
        self._paho(client).manual_ack_set(True)
        return client

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        for topic_filter in self.config.subscriptions:
            await client.subscribe(self._filter(topic_filter), qos=QOS)

    def _filter(self, topic_filter: str) -> str:
        group = self.config.shared_group
        if group and topic_filter in self.config.shared_filters and self.shares:
            return shared(topic_filter, group)
        return topic_filter

    @property
    def shares(self) -> bool:
        """Shared subscriptions are used on MQTT 5 brokers (amqtt has none)."""
        return self.plan.version == V5

    # ---- the outbox -----------------------------------------------------------------

    async def _publisher(self) -> None:
        """Send the outbox in order. A send that fails (the connection went) is put back;
        nothing new is sent until every send of that moment has failed or succeeded and
        the failed ones are back at the head in their first order, so that a reconnection
        does not reorder what a process published (the DSP refuses an originator counter
        that goes backwards, S3)."""
        async with asyncio.TaskGroup() as sends:
            while True:
                await self._sendable()
                await self.connected.wait()
                await self._slots.acquire()
                outgoing = self._outbox.popleft()
                self._inflight += 1
                sends.create_task(self._send(outgoing), name=f"mqtt-send {outgoing.topic}")

    async def _sendable(self) -> None:
        while True:
            if self._failed and not self._inflight:
                self._outbox.extendleft(sorted(self._failed, key=_sequence, reverse=True))
                self._failed.clear()
            if self._outbox and not self._failed:
                return
            self._outbox_ready.clear()
            await self._outbox_ready.wait()

    async def _send(self, outgoing: _Outgoing) -> None:
        try:
            assert self._client is not None
            await self._client.publish(
                outgoing.topic, outgoing.payload, qos=QOS, retain=outgoing.retain
            )
        except aiomqtt.MqttError as exc:
            log.debug("%s: %s not sent (%s); queued again", self._who, outgoing.topic, exc)
            self._failed.append(outgoing)
        else:
            if outgoing.confirmed is not None and not outgoing.confirmed.done():
                outgoing.confirmed.set_result(None)
        finally:
            self._inflight -= 1
            self._slots.release()
            self._outbox_ready.set()
            if not self._outbox and not self._inflight and not self._failed:
                self._idle.set()

    # ---- naming ---------------------------------------------------------------------

    @property
    def _who(self) -> str:
        return self.config.client_id

    @property
    def _where(self) -> str:
        return self.address.url

    @property
    def version(self) -> str:
        """The MQTT version in use ("5" or "3.1.1"), as `LinkConfig.mqtt_version` names it."""
        return self.plan.version

    @staticmethod
    def _paho(client: aiomqtt.Client) -> paho.Client:
        return client._client  # private: see the module docstring


def _sequence(outgoing: _Outgoing) -> int:
    return outgoing.sequence


def _received(message: aiomqtt.Message, session: int) -> BusMessage:
    payload = message.payload
    match payload:
        case bytes():
            data = payload
        case bytearray():
            data = bytes(payload)
        case None:
            data = b""
        case _:
            data = str(payload).encode()
    return BusMessage(
        message.topic.value,
        data,
        bool(message.retain),
        message.mid,
        message.qos,
        session,
        time.time(),
    )
