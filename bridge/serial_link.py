"""The bridge's serial port on serialx: a device path (`/dev/ttyUSB0`, a pty, a
`/dev/serial/by-id/...` link), `socket://host:port` or `rfc2217://host:port` (a port
exported by ser2net). Bytes read go into the rig-link session, what it says is written;
when the port goes away (unplugged, the socket closed) the session is told, and the port
is opened again with capped exponential back-off until it is back.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

import serialx

from bus.backoff import Backoff
from bus.waiting import first_of

from .link_driver import SessionDriver

log = logging.getLogger(__name__)
CLOSE_WAIT = 5.0  # seconds for a closing port to report itself closed


@dataclass(frozen=True, slots=True)
class PortSettings:
    url: str
    baudrate: int = 115200
    exclusive: bool = True  # flock the device so a second process cannot share it
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.2, cap=5.0))


class _Port(asyncio.Protocol):
    """serialx's callbacks, straight into the driver."""

    def __init__(self, link: SerialLink) -> None:
        self._link = link
        self.lost = asyncio.Event()
        self.reason = "the port closed"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self._link.driver.attach(transport.write)

    def data_received(self, data: bytes) -> None:
        self._link.driver.data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost.is_set():  # already told (a close that serialx did not report)
            return
        if exc is not None:
            self.reason = f"the port failed: {exc}"
        self._link.driver.detach(self.reason)
        self.lost.set()


class SerialLink:
    """Keeps one serial port open for a session driver, for as long as it runs."""

    def __init__(
        self, settings: PortSettings, driver: SessionDriver, rng: random.Random | None = None
    ) -> None:
        self.settings = settings
        self.driver = driver
        self.connections = 0  # times the port was opened
        self.open = asyncio.Event()
        self._rng = rng or random.Random()

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.driver.run(stop), name="rig-link-timers")
            tasks.create_task(self._keep_open(stop), name="rig-link-port")

    async def _keep_open(self, stop: asyncio.Event) -> None:
        delays = self.settings.backoff.delays(self._rng)
        failures = 0
        while not stop.is_set():
            try:
                transport, port = await self._connect()
            except (OSError, serialx.SerialException) as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "serial port %s cannot be opened: %s", self._where, exc)
                await first_of(asyncio.sleep(next(delays)), stop.wait())
                continue
            failures, delays = 0, self.settings.backoff.delays(self._rng)
            await self._serve(transport, port, stop)

    async def _connect(self) -> tuple[asyncio.Transport, _Port]:
        loop = asyncio.get_running_loop()
        settings = self.settings
        transport, protocol = await serialx.create_serial_connection(
            loop,
            lambda: _Port(self),
            settings.url,
            baudrate=settings.baudrate,
            exclusive=settings.exclusive,  # flock on device paths; no effect on sockets
        )
        assert isinstance(protocol, _Port)
        return transport, protocol

    async def _serve(self, transport: asyncio.Transport, port: _Port, stop: asyncio.Event) -> None:
        self.connections += 1
        self.open.set()
        log.info("serial port %s open", self._where)
        try:
            await first_of(port.lost.wait(), stop.wait())
        finally:
            self.open.clear()
            if not port.lost.is_set():
                transport.close()
                await self._closed(port)
        level = logging.INFO if stop.is_set() else logging.WARNING  # asked, or not
        log.log(level, "serial port %s closed: %s", self._where, port.reason)

    async def _closed(self, port: _Port) -> None:
        """Wait for serialx to report the port closed; tell the session if it does not."""
        try:
            async with asyncio.timeout(CLOSE_WAIT):
                await port.lost.wait()
        except TimeoutError:
            port.connection_lost(None)

    @property
    def _where(self) -> str:
        return serialx.redact_uri(self.settings.url)
