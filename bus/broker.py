"""The embedded broker: amqtt in this process, on a free loopback port (MQTT 3.1.1 only,
so no shared subscriptions). For `smetslab demo` and tests that need no external broker.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

from amqtt.broker import Broker

from .errors import BrokerUnavailableError

log = logging.getLogger(__name__)

_QUIET = ("amqtt", "transitions")


class EmbeddedBroker:
    """`async with EmbeddedBroker() as broker:` then connect to `broker.url`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._broker: Any = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        for name in _QUIET:  # amqtt logs every connection at INFO
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self._port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        self._broker = Broker(config)
        try:
            await self._broker.start()
        except Exception as exc:
            raise BrokerUnavailableError(f"embedded broker on {self.host}: {exc}") from exc
        self._port = self._bound_port()
        log.info("embedded MQTT broker listening on %s", self.url)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self._port}"

    def _bound_port(self) -> int:
        """The port the OS chose for port 0 (amqtt keeps its asyncio servers by listener)."""
        server = self._broker._servers["default"].instance
        return int(server.sockets[0].getsockname()[1])
