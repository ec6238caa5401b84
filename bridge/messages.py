"""Rig-link payloads (docs/rig-link.md §3): what each frame type carries, and GBCS
messages cut into fragments and put back together.

Every payload is a frozen dataclass with `to_bytes()` and a `parse(bytes)` class method
that raises `PayloadError` naming the frame type. Device IDs are EUI-64s, 8 bytes.
Sans-IO.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Self

from .errors import PayloadError, ReassemblyError

PROTOCOL_VERSION = 1
EUI64 = 8
_SYNC = struct.Struct(">BII")  # version, my boot ID, your boot ID as I know it (0: none)
_FRAGMENT_HEAD = 1 + EUI64  # flags, device ID
MAX_MESSAGE = 1024 * 1024  # the largest GBCS message carried (an 11.1 image)


def _eui64(value: bytes, what: str) -> bytes:
    if len(value) != EUI64:
        raise PayloadError(f"{what}: device ID of {len(value)} bytes, not {EUI64}")
    return value


@dataclass(frozen=True, slots=True)
class Sync:
    """HELLO and HEARTBEAT: who I am (boot ID) and who I believe you are."""

    boot_id: int
    peer_boot_id: int = 0
    version: int = PROTOCOL_VERSION

    def to_bytes(self) -> bytes:
        return _SYNC.pack(self.version, self.boot_id, self.peer_boot_id)

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) != _SYNC.size:
            raise PayloadError(f"HELLO/HEARTBEAT payload of {len(data)} bytes, not {_SYNC.size}")
        version, boot_id, peer = _SYNC.unpack(data)
        if boot_id == 0:
            raise PayloadError("HELLO/HEARTBEAT with boot ID 0 (reserved for 'unknown')")
        return cls(boot_id, peer, version)


class NakReason(IntEnum):
    OUT_OF_SEQUENCE = 1  # a frame ahead of the one expected: send again from `seq`


@dataclass(frozen=True, slots=True)
class Nak:
    reason: NakReason

    def to_bytes(self) -> bytes:
        return bytes((self.reason,))

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) != 1:
            raise PayloadError(f"NAK payload of {len(data)} bytes, not 1")
        try:
            return cls(NakReason(data[0]))
        except ValueError as exc:
            raise PayloadError(f"NAK reason {data[0]} is not defined") from exc


class FragmentFlags(IntFlag):
    NONE = 0
    MORE = 0x01  # another fragment of the same message follows


@dataclass(frozen=True, slots=True)
class GbcsFragment:
    """GBCS_DOWN (to the device `device_id`) and GBCS_UP (from it): a piece of one message."""

    device_id: bytes
    data: bytes
    more: bool = False

    def to_bytes(self) -> bytes:
        flags = FragmentFlags.MORE if self.more else FragmentFlags.NONE
        return bytes((flags,)) + _eui64(self.device_id, "GBCS fragment") + self.data

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) < _FRAGMENT_HEAD:
            raise PayloadError(f"GBCS fragment of {len(data)} bytes has no flags and device ID")
        if data[0] & ~int(FragmentFlags.MORE) & 0xFF:
            raise PayloadError(f"GBCS fragment flags 0x{data[0]:02X} has undefined bits")
        return cls(data[1:_FRAGMENT_HEAD], data[_FRAGMENT_HEAD:], bool(data[0]))


class PowerAction(IntEnum):
    CYCLE = 1  # off, then on: the device keeps its running firmware (R10)


@dataclass(frozen=True, slots=True)
class PowerCommand:
    device_id: bytes
    action: PowerAction = PowerAction.CYCLE

    def to_bytes(self) -> bytes:
        return _eui64(self.device_id, "POWER") + bytes((self.action,))

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) != EUI64 + 1:
            raise PayloadError(f"POWER payload of {len(data)} bytes, not {EUI64 + 1}")
        try:
            return cls(data[:EUI64], PowerAction(data[EUI64]))
        except ValueError as exc:
            raise PayloadError(f"POWER action {data[EUI64]} is not defined") from exc


@dataclass(frozen=True, slots=True)
class DevicePresence:
    device_id: bytes
    powered: bool = True


@dataclass(frozen=True, slots=True)
class RigStatus:
    """STATUS: whether the comms hub is up, and the devices on its HAN."""

    hub_online: bool
    devices: tuple[DevicePresence, ...] = ()

    def to_bytes(self) -> bytes:
        if len(self.devices) > 0xFF:
            raise PayloadError(f"STATUS with {len(self.devices)} devices; at most 255")
        out = bytearray((int(self.hub_online), len(self.devices)))
        for device in self.devices:
            out += _eui64(device.device_id, "STATUS") + bytes((int(device.powered),))
        return bytes(out)

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) < 2 or len(data) != 2 + data[1] * (EUI64 + 1):
            raise PayloadError(f"STATUS payload of {len(data)} bytes does not match its count")
        if data[0] > 1:
            raise PayloadError(f"STATUS hub state {data[0]} is not 0 or 1")
        devices = tuple(
            DevicePresence(data[at : at + EUI64], bool(data[at + EUI64]))
            for at in range(2, len(data), EUI64 + 1)
        )
        return cls(bool(data[0]), devices)


def fragments(device_id: bytes, message: bytes, max_payload: int) -> list[GbcsFragment]:
    """One GBCS message as fragments of at most `max_payload` bytes of frame payload."""
    size = max_payload - _FRAGMENT_HEAD
    if size < 1:
        raise PayloadError(f"frame payload of {max_payload} bytes cannot hold a GBCS fragment")
    if len(message) > MAX_MESSAGE:
        raise PayloadError(f"GBCS message of {len(message)} bytes is over {MAX_MESSAGE}")
    pieces = [message[at : at + size] for at in range(0, len(message), size)] or [b""]
    last = len(pieces) - 1
    return [GbcsFragment(device_id, piece, i < last) for i, piece in enumerate(pieces)]


class Reassembler:
    """Fragments of one direction, in order (the session delivers them so), to messages.

    A message that goes wrong (over `max_message`, or another device's fragment in its
    middle) is dropped with the rest of its fragments, and `ReassemblyError` says why."""

    __slots__ = ("_device", "_parts", "_size", "_skipping", "max_message")

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self.max_message = max_message
        self._device: bytes | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._skipping = False

    def add(self, fragment: GbcsFragment) -> bytes | None:
        """The whole message when `fragment` is its last one, else None."""
        if self._skipping:
            self._skipping = fragment.more
            return None
        if self._device is not None and fragment.device_id != self._device:
            self._drop(fragment)
            raise ReassemblyError(
                f"a fragment for {fragment.device_id.hex().upper()} arrived in the middle "
                "of a message for another device; both messages are dropped"
            )
        self._size += len(fragment.data)
        if self._size > self.max_message:
            self._drop(fragment)
            raise ReassemblyError(f"GBCS message over {self.max_message} bytes; dropped")
        self._device = fragment.device_id
        self._parts.append(fragment.data)
        if fragment.more:
            return None
        message = b"".join(self._parts)
        self.reset()
        return message

    def reset(self) -> None:
        """Forget a partial message (the peer restarted: it sends its messages whole)."""
        self._device = None
        self._parts = []
        self._size = 0
        self._skipping = False

    def _drop(self, fragment: GbcsFragment) -> None:
        self.reset()
        self._skipping = fragment.more
