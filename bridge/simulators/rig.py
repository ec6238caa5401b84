"""A simulated rig (`smetslab rig simulate`): one emulated premises (a comms hub and its
devices, the emulator models of DESIGN §2) behind the rig-link protocol, on a pty pair
(or exported on TCP as ser2net would, with `listen`), for tests and for trying the
bridge without hardware.

The bridge opens the pty's slave side as its serial port (`path`; with `link`, a
symbolic link that follows the pty when it is plugged in again, as `/dev/serial/by-id/`
names do). Faults a lab sees on a real line can be made on purpose: `unplug` and `plug`,
`garbage` on the line, `stop_answering` (a hung rig) and `resume`, `restart` (a rig
reboot: its link state is lost), and the hub switched off (`set_hub_online`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import tty
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import gbcs
from bridge.errors import BridgeError, PayloadError, ReassemblyError, RigLinkError
from bridge.framing import Frame, FrameCodec, FrameType
from bridge.link_driver import SessionDriver
from bridge.messages import (
    DevicePresence,
    GbcsFragment,
    PowerCommand,
    Reassembler,
    RigStatus,
    fragments,
)
from bridge.session import Deliver, LinkRole, LinkUp, RigSession, SessionAction, SessionConfig
from bus.clock import Clock
from bus.waiting import first_of
from emulators.actions import Output
from emulators.fleet import FleetBuild
from emulators.journal import FleetJournal
from emulators.premises import PremisesModel

log = logging.getLogger(__name__)
WRITE_BUFFER = 256 * 1024  # bytes held for a slow reader; beyond, dropped as a UART would


class PtyPort:
    """The master side of a pty pair; the slave side is the bridge's serial port. The
    slave stays open here too, so the master reads nothing but the bridge's bytes and
    does not fail while the bridge has it closed."""

    def __init__(self, on_data: Callable[[bytes], None], link: Path | None = None) -> None:
        self._master, self._slave = os.openpty()
        for fd in (self._master, self._slave):
            tty.setraw(fd)
        os.set_blocking(self._master, False)
        self.name = os.ttyname(self._slave)
        self.link = link
        self.dropped = 0
        self._pending = bytearray()
        self._on_data = on_data
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._master, self._readable)
        if link is not None:
            temporary = link.with_name(link.name + ".new")
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(self.name)
            temporary.replace(link)

    @property
    def path(self) -> str:
        return str(self.link) if self.link is not None else self.name

    def write(self, data: bytes) -> None:
        if self._pending:
            self._queue(data)
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        if written < len(data):
            self._queue(data[written:])
            self._loop.add_writer(self._master, self._writable)

    def close(self) -> None:
        """Unplug: the bridge's port fails at once (EIO on the slave side)."""
        self._loop.remove_reader(self._master)
        self._loop.remove_writer(self._master)
        os.close(self._master)
        os.close(self._slave)
        if self.link is not None:
            self.link.unlink(missing_ok=True)

    def _queue(self, data: bytes) -> None:
        room = WRITE_BUFFER - len(self._pending)
        self._pending += data[:room]
        self.dropped += max(0, len(data) - room)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        if data:
            self._on_data(data)

    def _writable(self) -> None:
        try:
            written = os.write(self._master, self._pending)
        except BlockingIOError:
            return
        del self._pending[:written]
        if not self._pending:
            self._loop.remove_writer(self._master)


def pick_premises(build: FleetBuild, ch_id: str | None = None) -> PremisesModel:
    """The premises of hub `ch_id` (16 hex digits), or the fleet's only one."""
    premises = build.fleet.premises
    if ch_id is not None:
        try:
            found = premises.get(bytes.fromhex(ch_id))
        except ValueError:
            found = None
        if found is None:
            raise BridgeError(f"no comms hub {ch_id} in the fleet")
        return found
    if len(premises) != 1:
        raise BridgeError(f"a rig holds one premises; the fleet has {len(premises)}: name a hub")
    return next(iter(premises.values()))


class TcpPort:
    """The rig's line exported on TCP, as ser2net exports a serial port: the bridge
    connects with `socket://host:port`, one client at a time. The line itself stays up
    when a client goes: what the rig says meanwhile is lost, as on an unwatched UART."""

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self._on_data = on_data
        self._server: asyncio.Server | None = None
        self._client: asyncio.Transport | None = None
        self.path = ""

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: _TcpClient(self), host, port)
        except OSError as exc:
            raise RigLinkError(f"rig: cannot listen on {host}:{port}: {exc.strerror}") from exc
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        self.path = f"socket://{bound_host}:{bound_port}"

    def write(self, data: bytes) -> None:
        if self._client is not None and not self._client.is_closing():
            self._client.write(data)

    def drop_client(self) -> None:
        """The network drops the bridge's connection."""
        if self._client is not None:
            self._client.abort()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_client()

    def connected(self, transport: asyncio.Transport) -> bool:
        if self._client is not None:
            return False
        self._client = transport
        return True

    def gone(self, transport: asyncio.Transport) -> None:
        if self._client is transport:
            self._client = None

    def received(self, data: bytes) -> None:
        self._on_data(data)


class _TcpClient(asyncio.Protocol):
    def __init__(self, port: TcpPort) -> None:
        self._port = port
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._port.connected(transport):
            self._transport = transport
        else:
            transport.close()  # the port is taken, as a serial device would be

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._port.received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._port.gone(self._transport)


class RigSimulator:
    """One emulated premises (of `build`: hub `ch_id`, or its only one) behind the rig
    link, on a pty."""

    def __init__(
        self,
        build: FleetBuild,
        clock: Clock,
        *,
        ch_id: str | None = None,
        link: Path | None = None,
        listen: tuple[str, int] | None = None,
        session: SessionConfig | None = None,
        journal: FleetJournal | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.fleet = build.fleet
        self.premises: PremisesModel = pick_premises(build, ch_id)
        self.clock = clock
        self.journal = journal or FleetJournal()
        self.link = link
        self.listen = listen
        self.hub_online = True
        self.answering = True
        self._acks_to_drop = 0
        self.counts: dict[str, int] = {"commands": 0, "uplinks": 0, "power": 0, "dropped": 0}
        self._rng = rng or random.Random()
        self._config = session or SessionConfig()
        self.driver = SessionDriver(self._new_session(), self._on_action)
        self._reassembler = Reassembler()
        self._port: PtyPort | TcpPort | None = None
        self._rescheduled = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None

    @property
    def session(self) -> RigSession:
        return self.driver.session

    @property
    def ch_id(self) -> str:
        return self.premises.hex_id

    @property
    def path(self) -> str:
        if self._port is None:
            raise BridgeError("the simulated rig is unplugged")
        return self._port.path

    # ---- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._tasks.create_task(self.driver.run(self._stop), name="rig-link-timers")
        self._tasks.create_task(self._device_timers(), name="rig-device-timers")
        if self.listen is None:
            self.plug()
        else:
            await self._serve_tcp(*self.listen)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._port is not None:
            self.unplug()
        assert self._tasks is not None
        await self._tasks.__aexit__(exc_type, exc, tb)

    async def _serve_tcp(self, host: str, port: int) -> None:
        tcp = TcpPort(self._from_line)
        await tcp.start(host, port)
        self._port = tcp
        self.driver.attach(self._to_line)
        log.info("rig %s: serving its line on %s", self.ch_id, tcp.path)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` (the command line's way of running it)."""
        async with self:
            await stop.wait()

    # ---- faults ---------------------------------------------------------------------

    def plug(self) -> str:
        """A new pty (the cable plugged in); returns the bridge's port path."""
        if self._port is not None or self.listen is not None:
            raise BridgeError("the simulated rig is already plugged in (or served over TCP)")
        self._port = PtyPort(self._from_line, self.link)
        self.driver.attach(self._to_line)
        log.info("rig %s: plugged in at %s", self.ch_id, self._port.path)
        return self._port.path

    def unplug(self) -> None:
        port, self._port = self._port, None
        if port is None:
            raise BridgeError("the simulated rig is already unplugged")
        port.close()  # a pty closed, or the TCP export stopped
        self.driver.detach("unplugged")
        log.info("rig %s: unplugged", self.ch_id)

    def drop_connection(self) -> None:
        """Over TCP (`listen`): the network drops the bridge's connection; the rig's line
        stays up and the bridge connects again by itself."""
        if not isinstance(self._port, TcpPort):
            raise BridgeError("only a rig served over TCP has a connection to drop")
        self._port.drop_client()

    def garbage(self, data: bytes) -> None:
        """Bytes on the line that are not frames (noise, a half frame)."""
        if self._port is not None:
            self._port.write(data)

    def stop_answering(self) -> None:
        """The rig hangs: it reads nothing and says nothing until `resume`."""
        self.answering = False

    def resume(self) -> None:
        self.answering = True

    def drop_acks(self, count: int) -> None:
        """Lose the rig's next `count` ACK frames on the line: the bridge sends those
        frames again, and the rig must take each once."""
        self._acks_to_drop = count

    def restart(self) -> None:
        """A rig reboot: a new boot ID, its link state and unsent frames gone (the devices
        keep theirs: they are other hardware)."""
        self.driver.restart(self._new_session(), "rig restart")
        self._reassembler.reset()

    def set_hub_online(self, online: bool) -> None:
        """Switch the comms hub off or on: off, commands are taken and dropped."""
        self.hub_online = online
        self._send_status()

    def power_cycle(self, device_id: bytes) -> None:
        self._emit(self.premises.power_cycle(device_id, self.clock.now()))
        self._send_status()

    # ---- the line -------------------------------------------------------------------

    def _new_session(self) -> RigSession:
        return RigSession(LinkRole.RIG, self._rng.randrange(1, 1 << 32), self._config)

    def _from_line(self, data: bytes) -> None:
        if self.answering:
            self.driver.data(data)

    def _to_line(self, data: bytes) -> None:
        if self._acks_to_drop and self._is_ack(data):
            self._acks_to_drop -= 1
            return
        if self.answering and self._port is not None:
            self._port.write(data)

    def _is_ack(self, data: bytes) -> bool:
        frames = FrameCodec(self.session.config.max_frame).feed(data)
        return any(isinstance(f, Frame) and f.kind is FrameType.ACK for f in frames)

    def _on_action(self, action: SessionAction) -> None:
        match action:
            case Deliver(frame):
                self._on_frame(frame)
            case LinkUp(peer_restarted=restarted):
                if restarted:
                    self._reassembler.reset()
                self._send_status()

    def _on_frame(self, frame: Frame) -> None:
        try:
            if frame.kind is FrameType.POWER:
                self.counts["power"] += 1
                self.power_cycle(PowerCommand.parse(frame.payload).device_id)
                return
            message = self._reassembler.add(GbcsFragment.parse(frame.payload))
        except (PayloadError, ReassemblyError, KeyError) as exc:
            log.warning("rig %s: %s frame not taken: %s", self.ch_id, frame.kind.name, exc)
            return
        if message is not None:
            self._command(message)

    def _command(self, message: bytes) -> None:
        self.counts["commands"] += 1
        if not self.hub_online:
            self.counts["dropped"] += 1
            log.info("rig %s: hub off; command dropped", self.ch_id)
            return
        now = self.clock.now()
        self._emit(self.fleet.handle_down(self.premises.ch_id, message, now))
        self._rescheduled.set()

    def _emit(self, outputs: list[Output]) -> None:
        for uplink in self.journal.record(outputs):
            device = gbcs.decode_header(uplink.data).header.originator_id
            pieces = fragments(device, uplink.data, self.session.max_payload)
            self.counts["uplinks"] += 1
            self.driver.send(FrameType.GBCS_UP, [piece.to_bytes() for piece in pieces])

    def _send_status(self) -> None:
        devices = tuple(DevicePresence(device_id) for device_id in self.premises.devices)
        status = RigStatus(self.hub_online, devices).to_bytes()
        self.driver.send(FrameType.STATUS, [status])

    # ---- time -----------------------------------------------------------------------

    async def _device_timers(self) -> None:
        while not self._stop.is_set():
            self._rescheduled.clear()
            await first_of(
                self.clock.sleep_until(self.fleet.next_due()),
                self._rescheduled.wait(),
                self._stop.wait(),
            )
            self._emit(self.fleet.tick(self.clock.now()))
