"""The demo on a broker another lab has used: it runs on a topic root of its own unless
told otherwise, and when it is told to share one with a departed DSP worker (whose
persistent session still holds its share of `$share/dsp`), its error names that cause
(issue: operations)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.adapter import MqttAdapter
from bus.mosquitto import Mosquitto
from contract.topics import Topics
from dsp_core.service import dsp_link
from hil.demo import DemoRun
from hil.errors import DemoError
from tests.support.demo import assert_recovered, demo_options

pytestmark = pytest.mark.e2e


async def departed_dsp_worker(url: str, root: str) -> None:
    """A DSP worker that subscribed under `root` and went away; its session stays."""
    async with MqttAdapter(dsp_link(url, Topics(root), "departed-dsp-worker")) as bus:
        await bus.wait_connected()


async def test_the_demo_takes_a_root_of_its_own_beside_a_departed_worker(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    await departed_dsp_worker(mosquitto_broker.url, "smetslab")
    store = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    summary = await DemoRun(demo_options(store, broker=mosquitto_broker.url)).run()
    assert_recovered(summary)


async def test_told_to_share_the_root_its_error_names_the_other_dsp(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    await departed_dsp_worker(mosquitto_broker.url, "smetslab")
    store = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    options = demo_options(
        store, broker=mosquitto_broker.url, topic_root="smetslab", alerts_within=3.0
    )
    with pytest.raises(DemoError, match=r"another DSP on the broker under the topic root"):
        await DemoRun(options).run()
