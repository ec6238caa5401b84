"""The hub routes by recipient ID; what it cannot route or decode, and commands a device
does not serve, become events, never exceptions out of the premises (DESIGN §3)."""

from __future__ import annotations

import pytest

from contract.errors import IllegalTransitionError
from contract.vocabulary import DeviceType
from emulators.actions import EventKind
from emulators.errors import UnsupportedCommandError
from emulators.models.firmware import SlotEvent, SlotState, next_slot_state
from gbcs import decode
from tests.support.emulators import (
    T0,
    cs06,
    device,
    down,
    ecs52,
    events,
    gcs38,
    one_premises,
    premises_of,
    uplinks,
)

UNKNOWN = bytes.fromhex("00DB12FFFFFFFFFF")


def test_hub_routes_by_recipient_id() -> None:
    build = one_premises()
    chf, esme = device(build, DeviceType.CHF), device(build, DeviceType.ESME)
    (from_chf,) = uplinks(down(build, ecs52(chf.device_id)))
    (from_esme,) = uplinks(down(build, ecs52(esme.device_id)))
    assert from_chf.header.originator_id == chf.device_id
    assert from_esme.header.originator_id == esme.device_id
    assert premises_of(build).ch_id == chf.device_id


def test_unknown_recipient_is_dropped_with_an_unroutable_event() -> None:
    build = one_premises()
    out = down(build, ecs52(UNKNOWN))
    assert uplinks(out) == []
    (event,) = events(out)
    assert (event.kind, event.device_id) == (EventKind.UNROUTABLE, UNKNOWN.hex().upper())


def test_unknown_hub_is_an_unroutable_event() -> None:
    build = one_premises()
    (event,) = build.fleet.handle_down(UNKNOWN, ecs52(UNKNOWN), T0)
    assert event.kind is EventKind.UNROUTABLE  # type: ignore[union-attr]


@pytest.mark.parametrize("data", [b"", b"\x00\x01", b"\xdf\x09\x01"])
def test_undecodable_bytes_are_an_event(data: bytes) -> None:
    build = one_premises()
    (event,) = events(down(build, data))
    assert event.kind is EventKind.UNDECODABLE


@pytest.mark.parametrize(
    ("device_type", "role"),
    [(DeviceType.PPMID, "SMETS2 PPMID"), (DeviceType.GPF, "SMETS2 GPF")],
)
def test_a_command_the_device_does_not_serve_is_rejected(
    device_type: DeviceType, role: str
) -> None:
    build = one_premises()
    target = device(build, device_type)
    data = cs06(target.device_id, bytes(32))
    with pytest.raises(UnsupportedCommandError) as raised:
        target.handle(decode(data), T0)
    assert (raised.value.role, raised.value.state) == (role, "EMPTY")
    assert "CS06" in raised.value.event
    (event,) = events(down(build, data))
    assert event.kind is EventKind.COMMAND_REJECTED
    assert role in event.detail


def test_gcs38_to_an_esme_is_rejected() -> None:
    build = one_premises()
    esme = device(build, DeviceType.ESME)
    (event,) = events(down(build, gcs38(esme.device_id)))
    assert event.kind is EventKind.COMMAND_REJECTED


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (SlotState.EMPTY, SlotEvent.BLOCKS_DONE),
        (SlotState.EMPTY, SlotEvent.ACTIVATED),
        (SlotState.DOWNLOADING, SlotEvent.START_ACTIVATION),
        (SlotState.ACTIVATING, SlotEvent.DISTRIBUTE),
    ],
)
def test_illegal_slot_transitions_name_role_state_and_event(
    state: SlotState, event: SlotEvent
) -> None:
    with pytest.raises(
        IllegalTransitionError, match=f"SMETS2 ESME: event {event.name} .* {state.name}"
    ):
        next_slot_state("SMETS2 ESME", state, event)
