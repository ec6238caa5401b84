"""The bus, measured on a private mosquitto (MQTT 5, loopback):

1. `raw`: the project's own MQTT adapter, one publisher to one subscriber, QoS 1,
   100-byte payloads, acknowledged by the subscriber as it takes them: messages/s.
2. `round_trips`: SR 11.2 through the DSP (SQLite file store) and a fleet of ESMEs, a
   service user keeping a window of requests outstanding: round trips/s. Each round
   trip is five messages: request, I99, command down, response up, I0.
3. `campaign`: the MP105 demo story (`smetslab demo`) on N premises with 20% of the
   11.3 responses lost: wall time and the SMI-versus-device mismatches at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bus.adapter import LinkConfig, MqttAdapter
from bus.clock import ScaledClock
from bus.mosquitto import Mosquitto, running_mosquitto
from contract.ids import to_compact
from contract.requests import Srv
from contract.requests import build as build_request
from contract.topics import Topics
from contract.vocabulary import DeviceType
from emulators.fleet import build_fleet
from emulators.fleetspec import FleetSpec
from emulators.runner import FleetRunner
from hil.demo import DemoOptions, DemoRun

MESSAGES_PER_TRIP = 5
# A 10,000-premises campaign keeps the DSP busy throughout: the clock runs at the demo's
# scale, and the campaign waits eight times longer, so that a busy DSP is not taken for
# a lost answer (the campaign's waits are device time).
CAMPAIGN_SCALE = 120.0
CAMPAIGN_PATIENCE = 8.0
CAMPAIGN_DSP_PROCESSES = 1  # the DSP as `smetslab dsp` on the other core (D18)
EPOCH = datetime(2031, 1, 1, tzinfo=UTC)


def run_bus_benchmark(messages: int, trips: int, campaign_premises: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="smetslab-bench-") as folder:
        work = Path(folder)
        with running_mosquitto(_made(work / "raw")) as broker:
            raw = asyncio.run(raw_rate(broker, messages))
        with running_mosquitto(_made(work / "trips")) as broker:
            trip = asyncio.run(round_trip_rate(broker, trips, work))
        with running_mosquitto(_made(work / "trips-secure")) as broker:
            secure = asyncio.run(round_trip_rate(broker, trips, work, security=True))
        with running_mosquitto(_made(work / "campaign")) as broker:
            campaign = asyncio.run(campaign_run(broker, campaign_premises, work, security=False))
        with running_mosquitto(_made(work / "campaign-secure")) as broker:
            campaign_secure = asyncio.run(
                campaign_run(broker, campaign_premises, work, security=True)
            )
    trip["messages_per_s"] = round(trip["round_trips_per_s"] * MESSAGES_PER_TRIP)
    trip["share_of_raw_rate"] = round(trip["messages_per_s"] / raw["messages_per_s"], 3)
    share = secure["round_trips_per_s"] / trip["round_trips_per_s"]
    return {
        "broker": "mosquitto (private, loopback)",
        "raw": raw,
        "round_trips": trip,
        "round_trips_security_on": secure,
        "security_on_share_of_off_rate": round(share, 3),
        "campaign": campaign,
        "campaign_security_on": campaign_secure,
        # the campaign's rate with security on as a share of its rate off (wall time off / on)
        "campaign_security_on_share_of_off_rate": round(
            campaign["wall_s"] / campaign_secure["wall_s"], 3
        ),
    }


def _made(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@asynccontextmanager
async def _link(url: str, client_id: str, *subscriptions: str) -> AsyncIterator[MqttAdapter]:
    async with MqttAdapter(LinkConfig(url, client_id, subscriptions)) as bus:
        await bus.wait_connected()
        yield bus


async def raw_rate(broker: Mosquitto, count: int) -> dict[str, Any]:
    payload = bytes(100)
    async with (
        _link(broker.url, "bench-sub", "bench/#") as sub,
        _link(broker.url, "bench-pub") as pub,
    ):
        started = time.perf_counter()
        for n in range(count):
            pub.publish(f"bench/{n % 16}", payload)
        received = 0
        async for message in sub.messages():
            sub.ack(message)
            received += 1
            if received == count:
                break
        seconds = time.perf_counter() - started
    return {
        "messages": count,
        "seconds": round(seconds, 3),
        "messages_per_s": round(count / seconds),
    }


def _esme_fleet(premises: int, *, security: bool = False) -> FleetSpec:
    devices = [
        {"type": "CHF", "model": "CH-2", "firmware_versions": ["00010203"]},
        {"type": "ESME", "model": "E470", "firmware_versions": ["0123ABCD"]},
    ]
    templates = [{"name": "e", "count": premises, "devices": devices}]
    return FleetSpec.model_validate({"seed": 1, "security": security, "templates": templates})


async def round_trip_rate(
    broker: Mosquitto, trips: int, work: Path, *, security: bool = False
) -> dict[str, Any]:
    """The DSP in a process of its own (`smetslab dsp`, as a lab runs it), the fleet and
    the service user in this one: the two cores of the machine both work. With
    `security`, the DSP MACs every command and the devices check it and MAC their
    responses (docs/security.md)."""
    spec = _esme_fleet(min(trips, 5_000), security=security)
    work = _made(work / ("secure" if security else "plain"))
    fleet_file = work / "trips-fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    build = build_fleet(spec)
    supplier = build.seed.users[0].user_id
    esmes = [d.device_id for d in build.seed.devices if d.device_type is DeviceType.ESME]
    topics = Topics()
    with _dsp_process(broker, fleet_file, work):
        async with (
            _link(broker.url, "bench-fleet", topics.all_ch_down) as fleet_bus,
            _link(broker.url, "bench-user", topics.responses(to_compact(supplier))) as user,
        ):
            stop = asyncio.Event()
            runner = FleetRunner(build.fleet, fleet_bus, topics, ScaledClock.real_time())
            fleet_task = asyncio.create_task(runner.run(stop), name="bench-fleet")
            used = await _await_dsp(user, topics, supplier, esmes[0])
            seconds, codes = await drive_reads(user, topics, supplier, esmes, trips, first=used + 1)
            stop.set()
            await fleet_task
    return {
        "round_trips": trips,
        "seconds": round(seconds, 3),
        "window": WINDOW,
        "round_trips_per_s": round(trips / seconds),
        "codes": dict(codes),
        "store": "SQLite file",
        "processes": "DSP (smetslab dsp) | fleet + service user",
        "security": security,
    }


@contextmanager
def _dsp_process(broker: Mosquitto, fleet_file: Path, work: Path) -> Iterator[None]:
    command = [sys.executable, "-m", "smetslab", "dsp", "--broker", broker.url]
    command += ["--store", f"sqlite:///{work / 'trips.sqlite'}", "--fleet", str(fleet_file)]
    command += ["--client-id", "bench-dsp"]
    with (work / "dsp.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log)
        try:
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


WINDOW = 256


async def _await_dsp(user: MqttAdapter, topics: Topics, supplier: str, esme: str) -> int:
    """Send an 11.2 a second until one is answered (the DSP process has subscribed);
    returns the last originator counter used."""
    stop = asyncio.Event()
    for counter in range(1, 61):
        request = build_request(supplier, Srv.READ_FIRMWARE, esme, counter, {})
        user.publish(topics.request(to_compact(supplier)), request.to_bytes())
        message = await user.next_message(stop, timeout=1.0)
        if message is not None:
            user.ack(message)
            await asyncio.sleep(0.5)  # let the answers to earlier probes come in
            while (late := await user.next_message(stop, timeout=0.2)) is not None:
                user.ack(late)
            return counter
    raise RuntimeError("the DSP process did not answer within 60 s")


async def drive_reads(
    user: MqttAdapter,
    topics: Topics,
    supplier: str,
    esmes: list[str],
    trips: int,
    *,
    first: int = 1,
) -> tuple[float, Counter[str]]:
    """Keep WINDOW SR 11.2 requests outstanding until each of `trips` has its final
    answer (I0, or the refusal S3 that is the only answer a refused request gets)."""
    topic = topics.request(to_compact(supplier))
    counter = itertools.count(first)
    codes: Counter[str] = Counter()
    sent = 0

    def send() -> None:
        nonlocal sent
        target = esmes[sent % len(esmes)]
        sent += 1
        request = build_request(supplier, Srv.READ_FIRMWARE, target, next(counter), {})
        user.publish(topic, request.to_bytes())

    started = time.perf_counter()
    for _ in range(min(WINDOW, trips)):
        send()
    async with asyncio.timeout(300):
        async for message in user.messages():
            user.ack(message)
            code = _code(message.payload)
            if code == "I99":
                continue
            codes[code] += 1
            if codes.total() == trips:
                break
            if sent < trips:
                send()
    return time.perf_counter() - started, codes


def _code(payload: bytes) -> str:
    marker = payload.find(b'"response_code"')
    start = payload.find(b'"', payload.find(b":", marker)) + 1
    return payload[start : payload.find(b'"', start)].decode()


async def campaign_run(
    broker: Mosquitto, premises: int, work: Path, *, security: bool
) -> dict[str, Any]:
    """The MP105 demo story on `premises`; with `security`, every command MACed, the
    11.3 activations signed by the campaign as pre-commands, every device answer signed
    or MACed and checked (docs/security.md)."""
    name = "campaign-secure" if security else "campaign"
    options = DemoOptions(
        premises=premises,
        loss=0.2,
        broker=broker.url,
        store_url=f"sqlite:///{work / f'{name}.sqlite'}",
        security=security,
        scale=CAMPAIGN_SCALE,
        patience=CAMPAIGN_PATIENCE,
        dsp_processes=CAMPAIGN_DSP_PROCESSES,
    )
    summary = await DemoRun(options).run()
    return {
        "premises": summary.premises,
        "devices": summary.devices,
        "loss": options.loss,
        "wall_s": round(summary.wall_s, 1),
        "device_s": round(summary.device_s),
        "smi_mismatches": summary.smi_mismatches,
        "suspended": summary.suspended,
        "activated": summary.activated,
        "still_suspended": summary.still_suspended,
        "responses_lost": summary.responses_lost,
        "recovered_by_retry": summary.recovered_by_retry,
        "recovered_by_read": summary.recovered_by_read,
        "store": "SQLite file",
        "scale": options.scale,
        "dsp_processes": options.dsp_processes,
        "security": security,
    }
