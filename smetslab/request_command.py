"""`smetslab request SRV --device ID`: one service request to a running lab, and the
DSP's answers printed as they come (the I99, then the final one), each device's GBCS
bytes decoded beside them.

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
from contract.ids import to_compact, to_duis
from contract.requests import SendRequest, Srv, build_request
from contract.responses import read_response
from contract.topics import Topics
from hil.shipped import shipped

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
    broker: Annotated[str, typer.Option(help="the lab's broker")] = "mqtt://127.0.0.1:1883",
    topic_root: Annotated[str, typer.Option(help="the lab's topic root")] = "smetslab",
    counter: Annotated[int | None, typer.Option(min=1, help="the originator counter")] = None,
    wait: Annotated[float, typer.Option(min=0.1, help="wall seconds for the answer")] = WAIT,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
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
    supplier = to_duis(user) if user else load_build(fleet_file).seed.users[0].user_id
    sent = build_request(supplier, srv, device_id, counter or time.time_ns() // 1000, fields)
    topics = Topics(topic_root)
    answers = run_command(lambda stop: _exchange(broker, topics, sent, wait, stop))
    for answer in answers:
        _print(answer, as_json)
    if not answers or answers[-1]["response_code"] == ResponseCode.I99:
        raise fail(f"no final answer to {sent.request_id} within {wait:.0f} s")


async def _exchange(
    broker: str, topics: Topics, sent: SendRequest, wait: float, stop: asyncio.Event
) -> list[dict[str, Any]]:
    user = to_compact(sent.user_id)
    link = LinkConfig(
        broker,
        f"smetslab-request-{uuid.uuid4().hex[:8]}",
        (topics.responses(user),),
        persistent=False,
    )
    answers: list[dict[str, Any]] = []
    async with MqttAdapter(link) as bus:
        if not await bus.wait_connected(10, stop):
            return answers
        bus.publish(topics.request(user), sent.to_bytes())
        with contextlib.suppress(TimeoutError):  # the caller says what did not come
            async with asyncio.timeout(wait):
                await _collect(bus, sent.request_id, answers, stop)
    return answers


async def _collect(
    bus: MqttAdapter, request_id: str, answers: list[dict[str, Any]], stop: asyncio.Event
) -> None:
    while (message := await bus.next_message(stop)) is not None:
        bus.ack(message)
        answer = _ours(message, request_id)
        if answer is not None:
            answers.append(answer)
            if answer["response_code"] != ResponseCode.I99:
                return


def _ours(message: BusMessage, request_id: str) -> dict[str, Any] | None:
    try:
        answer = json.loads(message.payload)
        return answer if read_response(answer).request_id == request_id else None
    except ValueError:  # not JSON, or not a response: someone else's
        return None


def _print(answer: dict[str, Any], as_json: bool) -> None:
    body = answer.get("body") or {}
    payload = body.get("gbcs_payload") if isinstance(body, dict) else None
    if isinstance(payload, str):
        answer = {**answer, "gbcs": _decoded(payload)}
    typer.echo(json.dumps(answer) if as_json else json.dumps(answer, indent=2))


def _decoded(payload: str) -> dict[str, Any]:
    try:
        return gbcs.message_fields(gbcs.decode(base64.b64decode(payload)))
    except (binascii.Error, gbcs.GbcsError) as exc:
        return {"error": str(exc)}
