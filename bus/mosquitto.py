"""A private mosquitto (the Debian package) on a free loopback port, configured as a lab
broker should be: every QoS 1 message kept for a slow or absent client, sessions saved
across a restart. For tests, benchmarks and `smetslab` runs that want a real MQTT 5
broker without touching the machine's own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import BrokerUnavailableError

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mosquitto:
    """One mosquitto process; `restart` stops it and starts it again on the same port."""

    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    # 0 keeps every QoS 1 message for a slow client; mosquitto's own default is 1000,
    # beyond which it drops them (a test sets a small limit to show what that does)
    queue_limit: int = 0

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not Path(MOSQUITTO).exists():
            raise BrokerUnavailableError(f"mosquitto not found at {MOSQUITTO} (Debian package)")
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"max_queued_messages {self.queue_limit}\n"
            f"max_inflight_messages {1 if self.queue_limit else 0}\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n" + ("user root\n" if os.geteuid() == 0 else "")
            # as root, mosquitto drops to its own user, which cannot write the workdir
        )
        log = (self.workdir / "mosquitto.log").open("ab")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=log)
        _wait_listening(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def running_mosquitto(workdir: Path, queue_limit: int = 0) -> Iterator[Mosquitto]:
    broker = Mosquitto(workdir, free_port(), queue_limit=queue_limit)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerUnavailableError(f"mosquitto exited with {process.returncode} on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerUnavailableError(f"mosquitto did not listen on port {port} within 10 s")
