"""`smetslab request SRV --device ID`: one service request to a running lab, and the
DSP's answers printed as they come (the I99, then the final one), each device's GBCS
bytes decoded beside them.

A Critical SR (11.3, CV 4) to a lab whose fleet's security is on is answered with a
pre-command: with signing keys (`--keys PATH`, a keystore.json or an RTDS-layout folder,
or the lab's own from `--fleet FILE` with `security: true`) it is signed as the user
and sent back as CV 5 under the same request ID, and the device's answer follows. Each
answer carrying the device's bytes gets a `verdict` on its signature and MAC
(docs/security.md, "The service user's side").

The originator counter must rise for every request of a user (R1; DESIGN §3): by
default it is the wall clock in microseconds, above any counter a lab has used unless
someone chose larger ones (`--counter` then).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

import gbcs
from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from contract.codes import ResponseCode
from contract.errors import MalformedMessageError
from contract.ids import to_compact, to_duis
from contract.requests import SendRequest, Srv, build_request, signed_pre_command_reply
from contract.responses import read_pre_command, read_response
from contract.topics import Topics
from gbcs.keystore import KeyStore
from hil.errors import SigningError
from hil.keys import KeyStoreSigner, KeyStoreVerifier, lab_security, load_keys
from hil.security import Signer, Verifier, verdict_on
from hil.shipped import shipped

from .broker_options import BROKER_HELP, BrokerCa, BrokerCert, BrokerKey, PasswordFile, broker_url
from .errors import fail
from .processes import load_build
from .signals import run_command

WAIT = 60.0  # wall seconds for the final answer
DEFAULT_FLEET = shipped("fleet.yaml")


def request(
    srv: Annotated[Srv, typer.Argument(help="the service reference variant: 11.2, 11.3, ...")],
    *,
    device: Annotated[str, typer.Option(help="the device (EUI-64), or the devices of 8.2/11.x")],
    body: Annotated[str, typer.Option(help="the request body as JSON")] = "{}",
    user: Annotated[
        str | None, typer.Option(help="the service user (EUI-64); default: the fleet's supplier")
    ] = None,
    fleet_file: Annotated[
        Path, typer.Option("--fleet", help="the fleet the DSP was seeded from (for --user)")
    ] = DEFAULT_FLEET,
    broker: Annotated[str, typer.Option(help="the lab's broker (" + BROKER_HELP + ")")] = (
        "mqtt://127.0.0.1:1883"
    ),
    password_file: PasswordFile = None,
    broker_ca: BrokerCa = None,
    broker_cert: BrokerCert = None,
    broker_key: BrokerKey = None,
    topic_root: Annotated[str, typer.Option(help="the lab's topic root")] = "smetslab",
    counter: Annotated[int | None, typer.Option(min=1, help="the originator counter")] = None,
    wait: Annotated[float, typer.Option(min=0.1, help="wall seconds for the answer")] = WAIT,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
    keys: Annotated[
        Path | None,
        typer.Option(help="a GBCS key store to sign and verify with (default: the fleet's)"),
    ] = None,
) -> None:
    """Send one service request to a running lab and print the DSP's answers to it."""
    try:
        fields = json.loads(body)
        device_id = to_duis(device)
    except ValueError as exc:
        raise fail(f"--body or --device: {exc}") from exc
    if not isinstance(fields, dict):
        raise fail("--body: a JSON object, please")
    if srv is Srv.READ_INVENTORY:
        fields.setdefault("device_ids", [device_id])
    build = load_build(fleet_file)
    supplier = to_duis(user) if user else build.seed.users[0].user_id
    sent = build_request(supplier, srv, device_id, counter or time.time_ns() // 1000, fields)
    topics = Topics(topic_root)
    broker = broker_url(broker, password_file, broker_ca, broker_cert, broker_key)
    signer, verifier = _security(keys, build.keys)
    exchange = Exchange(sent, signer, wait)
    try:
        answers = run_command(lambda stop: exchange.run(broker, topics, stop))
    except SigningError as exc:
        raise fail(str(exc)) from exc
    for answer in answers:
        _print(answer, as_json, verifier)
    if not answers or answers[-1]["response_code"] == ResponseCode.I99:
        raise fail(f"no final answer to {sent.request_id} within {wait:.0f} s")


def _security(
    path: Path | None, lab_keys: KeyStore | None
) -> tuple[KeyStoreSigner, KeyStoreVerifier] | tuple[None, None]:
    """`--keys`, else the fleet's keys when its security is on, else nothing."""
    if path is None:
        return lab_security(lab_keys)
    try:
        return lab_security(load_keys(path))
    except SigningError as exc:
        raise fail(f"--keys: {exc}") from exc


class Exchange:
    """One request and its answers; a pre-command is signed and sent back as CV 5."""

    def __init__(self, sent: SendRequest, signer: Signer | None, wait: float) -> None:
        self.sent = sent
        self.signer = signer
        self.wait = wait
        self.answers: list[dict[str, Any]] = []

    async def run(self, broker: str, topics: Topics, stop: asyncio.Event) -> list[dict[str, Any]]:
        user = to_compact(self.sent.user_id)
        link = LinkConfig(
            broker,
            f"smetslab-request-{uuid.uuid4().hex[:8]}",
            (topics.responses(user),),
            persistent=False,
        )
        async with MqttAdapter(link) as bus:
            if not await bus.wait_connected(10, stop):
                return self.answers
            bus.publish(topics.request(user), self.sent.to_bytes())
            with contextlib.suppress(TimeoutError):  # the caller says what did not come
                async with asyncio.timeout(self.wait):
                    await self._collect(bus, topics.request(user), stop)
        return self.answers

    async def _collect(self, bus: MqttAdapter, topic: str, stop: asyncio.Event) -> None:
        while (message := await bus.next_message(stop)) is not None:
            bus.ack(message)
            answer = _ours(message, self.sent.request_id)
            if answer is None:
                continue
            self.answers.append(answer)
            if answer["response_code"] == ResponseCode.I99:
                continue
            signed = self._signed(answer)
            if signed is None:
                return
            bus.publish(topic, signed.to_bytes())

    def _signed(self, answer: dict[str, Any]) -> SendRequest | None:
        """The CV 5 for a pre-command answer, when there are keys to sign it with."""
        try:
            pre = read_pre_command(read_response(answer).body)
        except MalformedMessageError:
            return None
        if pre is None or self.signer is None:
            return None
        sent = self.sent
        signed = self.signer.sign(pre.data, sent.user_id)
        return signed_pre_command_reply(sent.user_id, Srv(sent.srv), sent.request_id, signed)


def _ours(message: BusMessage, request_id: str) -> dict[str, Any] | None:
    try:
        answer = json.loads(message.payload)
        return answer if read_response(answer).request_id == request_id else None
    except ValueError:  # not JSON, or not a response: someone else's
        return None


def _print(answer: dict[str, Any], as_json: bool, verifier: Verifier | None) -> None:
    body = answer.get("body") or {}
    payload = body.get("gbcs_payload") if isinstance(body, dict) else None
    if isinstance(payload, str):
        answer = {**answer, "gbcs": _decoded(payload)}
        if verifier is not None:
            assert isinstance(body, dict)
            what = f"response {answer.get('request_id')}"
            verdict = verdict_on(verifier, body, what=what, device_id=None)
            answer["verdict"] = None if verdict is None else verdict.to_json()
    typer.echo(json.dumps(answer) if as_json else json.dumps(answer, indent=2))


def _decoded(payload: str) -> dict[str, Any]:
    try:
        return gbcs.message_fields(gbcs.decode(base64.b64decode(payload)))
    except (binascii.Error, gbcs.GbcsError) as exc:
        return {"error": str(exc)}
