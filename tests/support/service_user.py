"""A service user on the bus, as the tests play one: its service requests (DUIS JSON,
request ID `USER:TARGET:COUNTER`) and what comes back on its topics.

Two ways to read what comes back:

- `receive_until(bus, "responses", done)`: the messages on topics ending in a kind,
  taken from the user's connection until `done(got)` says enough (a test that reads in
  step with what it does);
- `ServiceUserClient`: every message on its subscriptions collected in the background
  (`collect`, run as a task), then `seen` and `wait_for` look at them (a test that
  looks back: "one receipt and no duplicate", "the status went offline since then").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.adapter import LinkConfig, MqttAdapter
from contract.ids import to_compact
from contract.requests import Srv, signed_pre_command_reply
from contract.responses import read_pre_command
from contract.topics import Topics
from hil.security import Signer
from tests.support.waiting import wait_until

Message = dict[str, Any]


def request_id(user_id: str, target: str, counter: int) -> str:
    return f"{user_id}:{target}:{counter}"


def request_bytes(
    user_id: str,
    srv: str,
    target: str,
    counter: int,
    body: Mapping[str, object] | None = None,
    *,
    variant: int = 1,
) -> bytes:
    """A service request as a service user writes it by hand (not through
    `contract.requests`, so that the DSP's own parsing is what is tested)."""
    message = {
        "request_id": request_id(user_id, target, counter),
        "service_reference_variant": srv,
        "command_variant": variant,
        "body": body or {},
    }
    return json.dumps(message).encode()


def final(request_id: str) -> Callable[[Message], bool]:
    """The answer to `request_id` that is not the acknowledgement (I99) nor the
    pre-command to sign (D-SEC8): the device's answer or the DSP's refusal."""
    return lambda r: (
        r["request_id"] == request_id
        and r["response_code"] != "I99"
        and "pre_command" not in (r.get("body") or {})
    )


async def receive_until(
    bus: MqttAdapter, kind: str, done: Callable[[list[Message]], bool], timeout: float = 30
) -> list[Message]:
    """Messages on the user's topics ending in `kind` until `done` says enough (every
    message taken is acknowledged, of that kind or not)."""
    got: list[Message] = []
    async with asyncio.timeout(timeout):
        async for message in bus.messages():
            bus.ack(message)
            if message.topic.endswith(kind):
                got.append(json.loads(message.payload))
                if done(got):
                    return got
    return got


def user_link(
    url: str, topics: Topics, user_id: str, ch_id: str, *, client_id: str, version: str
) -> LinkConfig:
    """The user's responses and alerts, and the status of the hub `ch_id`."""
    user = to_compact(user_id)
    subscriptions = (topics.responses(user), topics.alerts(user), topics.ch_status(ch_id))
    return LinkConfig(url, client_id, subscriptions, mqtt_version=version)


@dataclass
class ServiceUserClient:
    """A service user on its own connection: requests with increasing originator
    counters, and every message on its subscriptions in `got` as (kind, JSON), the kind
    being the topic's last level ("responses", "alerts", "status"). With a `signer`, a
    Critical SR's pre-command is signed as it arrives and sent back as CV 5 under the
    same request ID, as a service user does with the fleet's security on (D-SEC8)."""

    bus: MqttAdapter
    user_id: str
    topics: Topics
    timeout: float = 15  # seconds `wait_for` waits unless told
    got: list[tuple[str, Message]] = field(default_factory=list)
    counter: int = 0
    signer: Signer | None = None

    def request(self, srv: str, target: str, body: Mapping[str, object], variant: int = 1) -> str:
        """Sends an SR with the next counter; its request ID."""
        self.counter += 1
        topic = self.topics.request(to_compact(self.user_id))
        self.bus.publish(
            topic, request_bytes(self.user_id, srv, target, self.counter, body, variant=variant)
        )
        return request_id(self.user_id, target, self.counter)

    def seen(self, kind: str, test: Callable[[Message], bool], since: int = 0) -> list[Message]:
        """The messages of `kind` passing `test`, among those from `since` on."""
        return [m for k, m in self.got[since:] if k == kind and test(m)]

    async def wait_for(
        self,
        kind: str,
        test: Callable[[Message], bool],
        timeout: float | None = None,
        since: int = 0,
    ) -> Message:
        """The first message of `kind` passing `test`, among those from `since` on."""
        found = await wait_until(
            lambda: self.seen(kind, test, since),
            self.timeout if timeout is None else timeout,
            f"a {kind} message",
        )
        return found[0]

    async def collect(self) -> None:
        async for message in self.bus.messages():
            self.bus.ack(message)
            kind = message.topic.rsplit("/", 1)[-1]
            content = json.loads(message.payload)
            self.got.append((kind, content))
            if kind == "responses":
                self._sign(content)

    def _sign(self, response: Message) -> None:
        pre_command = read_pre_command(response.get("body") or {})
        if pre_command is None or self.signer is None:
            return
        signed = self.signer.sign(pre_command.data, self.user_id)
        srv = Srv(response["service_reference_variant"])
        request = signed_pre_command_reply(self.user_id, srv, response["request_id"], signed)
        self.bus.publish(self.topics.request(to_compact(self.user_id)), request.to_bytes())
