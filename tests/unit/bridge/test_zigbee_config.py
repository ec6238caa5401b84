"""The ZigBee bridge's edges (docs/zigbee-bridge.md §2, §5): the device map file, the
radio configurations and classes (bellows for EZSP, zigpy-znp for Z-Stack), and the
command ledger. Real radios cannot be had here, so what is checked is that the right
zigpy application is built and starts speaking its radio's protocol on a serial line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.errors import DeviceMapError, RadioUnavailableError, ZigbeeError
from bridge.ledger import CommandLedger, Taken
from bridge.zigbee.devicemap import device_map_from, load_device_map
from bridge.zigbee.radios import (
    RadioKind,
    application_class,
    check_config,
    radio_config,
    radio_factory,
)
from bus.adapter import BusMessage
from tests.support.waiting import wait_until

HUB = "00DB1229D26B9496"


# ---- the device map ---------------------------------------------------------------------


def test_a_device_map_accepts_every_eui64_form_and_defaults_the_ieee_to_the_id(
    tmp_path: Path,
) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(
        "ch_id: 00-DB-12-29-D2-6B-94-96\n"
        "devices:\n"
        "  - device_id: 00db1229d26b9498\n"
        "  - {device_id: 00-DB-12-29-D2-6B-94-99, ieee: '58:8e:81:ff:fe:12:34:56'}\n"
    )
    devices = load_device_map(path)
    assert devices.ch_id == HUB
    first, second = devices.devices
    assert first.device_id == first.ieee == bytes.fromhex("00DB1229D26B9498")
    assert second.ieee == bytes.fromhex("588E81FFFE123456")
    assert set(devices.by_device_id()) == {first.device_id, second.device_id}


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"ch_id": HUB, "devices": []}, "devices"),
        ({"ch_id": "hub", "devices": [{"device_id": "00DB1229D26B9498"}]}, "ch_id"),
        ({"ch_id": HUB, "devices": [{"device_id": "00DB1229D26B94"}]}, "devices.0.device_id"),
        ({"ch_id": HUB, "devices": [{"device_id": "00DB1229D26B9498", "x": 1}]}, "devices.0.x"),
        (
            {"ch_id": HUB, "devices": [{"device_id": "00DB1229D26B9498"}] * 2},
            "device_id 00DB1229D26B9498 listed more than once",
        ),
        (
            {
                "ch_id": HUB,
                "devices": [
                    {"device_id": "00DB1229D26B9498"},
                    {"device_id": "00DB1229D26B9499", "ieee": "00DB1229D26B9498"},
                ],
            },
            "ieee 00DB1229D26B9498 listed more than once",
        ),
        ({"ch_id": HUB, "devices": [{"device_id": HUB}]}, "is the coordinator"),
    ],
)
def test_a_bad_device_map_is_refused_naming_the_file_and_what_is_wrong(
    data: object, named: str
) -> None:
    with pytest.raises(DeviceMapError) as caught:
        device_map_from(data, "lab.yaml")
    assert str(caught.value).startswith("lab.yaml: ")
    assert named in str(caught.value)


def test_an_unreadable_device_map_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DeviceMapError, match=r"missing\.yaml: cannot be read"):
        load_device_map(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("ch_id: [unclosed\n")
    with pytest.raises(DeviceMapError, match=r"broken\.yaml"):
        load_device_map(broken)


# ---- radios -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("radio", "module", "own_key"),
    [
        (RadioKind.EZSP, "bellows.zigbee.application", "ezsp_config"),
        (RadioKind.ZNP, "zigpy_znp.zigbee.application", "znp_config"),
        (RadioKind.EMULATED, "bridge.simulators.zigbee_radio", "ota"),
    ],
)
def test_each_radio_gets_its_librarys_application_and_a_config_its_schema_accepts(
    radio: RadioKind, module: str, own_key: str, tmp_path: Path
) -> None:
    cls = application_class(radio)
    assert cls.__module__ == module
    config = radio_config(
        radio, "socket://10.0.0.5:6638", baudrate=115200, database=tmp_path / "z.db"
    )
    read = check_config(radio, config)
    assert own_key in read  # the defaults of the radio library's own schema
    assert read["device"]["path"] == "socket://10.0.0.5:6638"
    assert read["ota"]["enabled"] is False  # no OTA providers: only the DSP's images
    assert read["database_path"] == str(tmp_path / "z.db")


def test_a_config_the_radio_schema_refuses_is_an_error_naming_the_field() -> None:
    with pytest.raises(ZigbeeError, match="flow_control"):
        radio_config(RadioKind.EZSP, "/dev/ttyUSB0", flow_control="sideways")


def test_the_emulated_radio_is_not_built_from_a_port() -> None:
    with pytest.raises(ZigbeeError, match="emulated"):
        radio_factory(RadioKind.EMULATED, {})


async def test_a_radio_on_a_missing_port_is_reported_unavailable() -> None:
    start = radio_factory(RadioKind.ZNP, radio_config(RadioKind.ZNP, "/dev/ttyNOPE0"))
    with pytest.raises(RadioUnavailableError, match="znp radio on /dev/ttyNOPE0"):
        await start()


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    for fd in (master, slave):
        tty.setraw(fd)
    os.set_blocking(master, False)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.mark.parametrize(
    ("radio", "first_frame"),
    [
        (RadioKind.EZSP, bytes.fromhex("C038BC7E")),  # ASH RST: bellows resets the NCP
        (RadioKind.ZNP, bytes.fromhex("FE00210120")),  # MT SYS ping: zigpy-znp probes
    ],
)
async def test_the_factory_starts_the_radio_library_on_the_port(
    radio: RadioKind, first_frame: bytes, pty: tuple[int, str]
) -> None:
    """Without hardware: the application the factory starts opens the serial line and
    speaks its radio's protocol on it."""
    master, path = pty
    config = radio_config(radio, path, baudrate=115200)
    if radio is RadioKind.EZSP:
        config["use_thread"] = False  # no EZSP thread left behind when the start is cancelled
    starting = asyncio.ensure_future(radio_factory(radio, config)())
    seen = bytearray()

    def said_its_first_frame() -> bool:
        with contextlib.suppress(BlockingIOError):
            seen.extend(os.read(master, 4096))
        return first_frame in seen

    try:
        await wait_until(said_its_first_frame, 10, f"{radio} to write {first_frame.hex()}")
    finally:
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
    assert first_frame in seen


# ---- the command ledger -----------------------------------------------------------------


def message(payload: bytes, mid: int) -> BusMessage:
    return BusMessage("smetslab/ch/00DB1229D26B9496/down", payload, mid=mid)


def test_a_command_sent_again_is_carried_once_and_acknowledged_with_the_first() -> None:
    ledger = CommandLedger(remembered=2)
    first, again = message(b"cmd", 1), message(b"cmd", 2)
    taken, digest = ledger.take(first)
    assert taken is Taken.NEW
    assert ledger.take(again) == (Taken.IN_FLIGHT, digest)
    assert ledger.finished(digest) == [first, again]
    assert ledger.take(message(b"cmd", 3))[0] is Taken.DONE
    assert ledger.in_flight == 0


def test_the_ledger_remembers_a_bounded_number_of_finished_commands() -> None:
    ledger = CommandLedger(remembered=2)
    for payload in (b"a", b"b", b"c"):
        ledger.finished(ledger.take(message(payload, 1))[1])
    assert ledger.take(message(b"c", 2))[0] is Taken.DONE
    assert ledger.take(message(b"a", 2))[0] is Taken.NEW  # forgotten: the oldest
