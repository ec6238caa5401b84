"""Issue 18, "no message kills a worker", over a real broker: each poison message of the
issue's findings is published to a running DSP (`DspService` on a SQLite file); the DSP
answers or journals it, a message it cannot handle goes to the dead letters, a normal
11.2 is answered I0 afterwards, and the DSP started again on the same session is not
given any of them again (docs/dsp.md, "Bad input and dead letters")."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bus.adapter import MqttAdapter
from bus.clock import ClockSetting
from contract.ids import MAX_COUNTER, to_compact
from contract.requests import Srv, activate_body
from contract.requests import build as build_request
from contract.vocabulary import DeviceType
from dsp_core.core import DspCore
from dsp_core.model import DeadLetter, JournalKind
from dsp_core.store import SqlStore
from emulators.fleet import build_fleet
from hil.lab.stack import Stack, StackConfig, seed_store
from smetslab.processes import dead_letter_lines
from tests.support.brokers import Mosquitto
from tests.support.fleets import TWO_ESMES
from tests.support.service_user import receive_until
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
T0 = datetime(2031, 1, 1, tzinfo=UTC)
POISON = b"poison-for-the-core"  # a payload the test's core cannot handle


@asynccontextmanager
async def lab(url: str, tmp_path: Path) -> AsyncIterator[tuple[Stack, MqttAdapter, SqlStore]]:
    build = build_fleet(TWO_ESMES)
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'dsp.sqlite'}")
    await seed_store(store, build.seed)
    config = StackConfig(url, ClockSetting.starting_now(T0, 10.0, time.time()))
    try:
        async with Stack(config, build, store) as stack:
            yield stack, await stack.user_bus(build.seed.users[0].user_id), store
    finally:
        await store.close()


def read(user: str, target: str, counter: int | str) -> bytes:
    text = build_request(user, Srv.READ_FIRMWARE, target, 1, {}).to_bytes().decode()
    return text.replace(f"{target}:1", f"{target}:{counter}").encode()


async def responses(user: MqttAdapter, count: int) -> list[dict[str, Any]]:
    return await receive_until(user, "/responses", lambda got: len(got) == count, timeout=15)


def _final_of(counter: int) -> Any:
    def done(got: list[dict[str, Any]]) -> bool:
        return any(
            r["response_code"] == "I0" and str(r.get("request_id")).endswith(f":{counter}")
            for r in got
        )

    return done


async def test_each_poison_message_is_answered_or_set_aside_and_the_dsp_serves_on(
    mosquitto_broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18, findings 1 to 5, the lower-case user topic and the counter jump; and a
    message the core raises on (any bug's poison) kept as a dead letter, never redelivered."""
    original = DspCore.prepare

    def prepare(self: DspCore, event: Any) -> Any:
        if getattr(event, "data", None) == POISON:
            raise RuntimeError("the core cannot handle this one")
        return original(self, event)

    monkeypatch.setattr(DspCore, "prepare", prepare)
    async with lab(mosquitto_broker.url, tmp_path) as (stack, user, store):
        topics = stack.config.topics
        supplier = stack.build.seed.users[0].user_id
        mine = topics.request(to_compact(supplier))
        target = next(d for d in stack.build.seed.devices if d.device_type is DeviceType.ESME)
        hub = to_compact(target.comms_hub_id)
        eleven_3 = build_request(
            supplier, Srv.ACTIVATE_FIRMWARE, target.device_id, 9, activate_body("AB" * 32, None)
        ).to_bytes()
        user.publish(mine, read(supplier, target.device_id, 1))  # counter 1 taken
        assert [r["response_code"] for r in await responses(user, 2)] == ["I99", "I0"]
        poisons = [
            (mine, read(supplier, target.device_id, "2²")),  # finding 1
            (mine, read(supplier, target.device_id, MAX_COUNTER + 1)),  # finding 2
            (mine, b'{"request_id":' + b"[" * 50_000 + b"]" * 50_000 + b"}"),  # finding 3
            (
                mine,
                eleven_3.replace(
                    b'"body":{', b'"body":{"execution_datetime":"9999-12-31T23:59:59-01:00",'
                ),
            ),  # finding 4
            (mine, read(supplier, target.device_id, MAX_COUNTER)),  # the counter jump: S9
            (
                mine.replace(to_compact(supplier), to_compact(supplier).lower()),
                read(supplier, target.device_id, 2),
            ),  # a lower-case user: answered, taken
            (topics.clock, b'{"epoch": "2031-01-01T00:00:00Z", "wall_epoch": 1, "scale": 1e300}'),
            (topics.ch_status(hub), b'{"online": false, "at": "9999-12-31T23:59:59Z"}'),
            (topics.ch_up(hub), POISON),  # the core raises: a dead letter
            (topics.ch_down(hub), b"[" * 100_000),  # the fleet refuses it and runs on
        ]
        for topic, payload in poisons:
            user.publish(topic, payload)
        user.publish(mine, read(supplier, target.device_id, 3))
        got = await receive_until(user, "/responses", _final_of(3), timeout=15)
        codes = [(r["response_code"], str(r.get("request_id")).rpartition(":")[2]) for r in got]
        assert [code for code, _ in codes[:5]] == ["S4", "S4", "S4", "S4", "S9"], codes
        assert sorted(codes[5:]) == [("I0", "2"), ("I0", "3"), ("I99", "2"), ("I99", "3")]
        letters = await store.dead_letters()
        assert [(d.topic, d.payload) for d in letters] == [(topics.ch_up(hub), POISON)]
        assert "RuntimeError: the core cannot handle this one" in letters[0].reason
        assert stack.fleet is not None
        assert stack.fleet.refused >= 1  # the clock; the fleet also outlived the bad down
        statuses = await store.hub_statuses()
        assert all(s.online for s in statuses)  # the status from 9999 was refused
        rejected = [e async for e in store.journal() if e.kind is JournalKind.REJECTED]
        # started again on the same session: nothing of the above is delivered again
        await stack.stop_part("dsp")
        dsp = await stack.start_dsp()
        assert dsp is not None
        user.publish(mine, read(supplier, target.device_id, 4))
        again = await responses(user, 2)
        assert [r["response_code"] for r in again] == ["I99", "I0"]
        await asyncio.sleep(0.5)
        assert len(await store.dead_letters()) == 1
        after = [e async for e in store.journal() if e.kind is JournalKind.REJECTED]
        assert after == rejected
        await wait_until(lambda: dsp.handled >= 2, 5, "the DSP to take the 11.2")


async def test_dead_letters_are_kept_in_sqlite_and_printed_one_json_line_each(
    tmp_path: Path,
) -> None:
    """Issue 18: the dead-letter table (D-P1), and `smetslab dsp --dead-letters`."""
    url = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    store = await SqlStore.open(url)
    try:
        await store.add_dead_letter(DeadLetter("smetslab/ch/X/up", b"\x00\xff", "why", T0))
        assert await store.dead_letters() == [
            DeadLetter("smetslab/ch/X/up", b"\x00\xff", "why", T0)
        ]
    finally:
        await store.close()
    (line,) = await dead_letter_lines(url)
    assert json.loads(line) == {
        "at": "2031-01-01T00:00:00Z",
        "topic": "smetslab/ch/X/up",
        "reason": "why",
        "payload": "AP8=",
    }
