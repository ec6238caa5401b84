"""SIGINT and SIGTERM end a long-running command in any state, within the grace of
smetslab/signals.py (2 s, then cancelled; another 2 s, then gone), with 128 + the signal
as its exit code: while connecting to a broker that is not there, while bridging a
port or a radio that is not there (issue: operations)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from bus.mosquitto import Mosquitto, free_port
from hil.shipped import shipped
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e
LIMIT = 6.0  # seconds from the signal: the 4 s of the grace and a loaded machine's slack
CLOSED = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there


async def ended_by(signal_number: int, *args: str, running_for: float = 1.5) -> tuple[int, float]:
    """Start `smetslab ARGS`, let it run, signal it; its exit code and how long it took."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smetslab", *args, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    try:
        await asyncio.sleep(running_for)  # a state to be in when the signal comes
        assert process.returncode is None, "it ended on its own"
        process.send_signal(signal_number)
        sent = time.monotonic()
        async with asyncio.timeout(30):
            code = await process.wait()
        return code, time.monotonic() - sent
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
            assert process.stderr is not None
            print((await process.stderr.read()).decode()[-3000:])


@pytest.mark.parametrize(("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_the_dsp_connecting_to_no_broker_ends_on_a_signal(
    number: int, code: int, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    ended = await ended_by(number, "dsp", "--broker", CLOSED, "--store", store)
    assert ended[0] == code
    assert ended[1] < LIMIT


async def test_the_fleet_and_the_campaign_connecting_to_no_broker_end_on_sigint() -> None:
    fleet = str(shipped("fleet.yaml"))
    for command in ("fleet", "campaign"):
        code, took = await ended_by(signal.SIGINT, command, "--broker", CLOSED, "--fleet", fleet)
        assert (command, code) == (command, 130)
        assert took < LIMIT


async def test_a_serial_bridge_on_a_missing_port_ends_on_sigterm(
    mosquitto_broker: Mosquitto,
) -> None:
    args = ("bridge", "serial", "--port", "/dev/ttyUSB-missing", "--ch-id", "00DB1234567890A2")
    code, took = await ended_by(signal.SIGTERM, *args, "--broker", mosquitto_broker.url)
    assert code == 143
    assert took < LIMIT


async def test_a_zigbee_bridge_on_a_missing_radio_ends_on_sigterm(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    devices = str(shipped("zigbee-devices.yaml"))
    args = ("bridge", "zigbee", "--radio", "ezsp", "--port", "/dev/ttyUSB9", "--devices", devices)
    database = ("--database", str(tmp_path / "zigbee.db"))
    code, took = await ended_by(
        signal.SIGTERM, *args, *database, "--broker", mosquitto_broker.url, running_for=3.0
    )
    assert code == 143
    assert took < LIMIT
