"""`DspProcess` (D18): `smetslab dsp` started from a lab, ready once subscribed, stopped
by SIGTERM; one that cannot start says why, with the end of its log."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.topics import Topics
from dsp_core.store import SqlStore
from hil.dsp_process import DspCommand, DspProcess
from hil.errors import LabError
from tests.brokers import Mosquitto

pytestmark = pytest.mark.integration


def command(url: str, store_url: str) -> DspCommand:
    return DspCommand(url, store_url, Topics("proc"), "smetslab-test-dsp-0")


async def test_a_worker_is_ready_once_subscribed_and_stops_on_sigterm(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    store_url = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    worker = DspProcess(command(mosquitto_broker.url, store_url), tmp_path)
    await worker.start()
    assert worker.ready_file.read_text().strip() == str(worker.pid)
    assert await worker.stop() == 0  # SIGTERM handled: a clean exit, not a kill
    store = await SqlStore.open(store_url)  # the worker made the schema and left it whole
    try:
        assert await store.devices() == []
    finally:
        await store.close()


async def test_a_worker_that_cannot_start_raises_with_its_log(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    worker = DspProcess(command(mosquitto_broker.url, "mysql://nobody@db/smi"), tmp_path)
    with pytest.raises(
        LabError, match=r"exited with code 1(.|\n)*expected sqlite:// or postgresql://"
    ):
        await worker.start()
