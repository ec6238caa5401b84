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
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


@dataclass(frozen=True, slots=True)
class ListenerTls:
    """A TLS listener's files: the CA that signs client certificates, the server's own
    certificate and key; `require_certificate` refuses a client without one."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = False


@dataclass(frozen=True, slots=True)
class BrokerSecurity:
    """Who may connect: `users` (name: password, written with `mosquitto_passwd -b`;
    anonymous clients refused when given), an optional ACL file's text, and TLS."""

    users: tuple[tuple[str, str], ...] = ()
    acl: str | None = None
    tls: ListenerTls | None = None


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
    security: BrokerSecurity | None = None

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.security is not None and self.security.tls else "mqtt"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not Path(MOSQUITTO).exists():
            raise BrokerUnavailableError(f"mosquitto not found at {MOSQUITTO} (Debian package)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + self._security_lines()
            + f"max_queued_messages {self.queue_limit}\n"
            f"max_inflight_messages {1 if self.queue_limit else 0}\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n" + ("user root\n" if os.geteuid() == 0 else "")
            # as root, mosquitto drops to its own user, which cannot write the workdir
        )
        log = (self.workdir / "mosquitto.log").open("ab")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=log)
        _wait_listening(self.port, self.process)

    def _security_lines(self) -> str:
        security = self.security
        if security is None:
            return "allow_anonymous true\n"
        lines = [f"allow_anonymous {'false' if security.users else 'true'}"]
        if security.users:
            passwords = self.workdir / "passwords"
            passwords.write_text("")
            for user, password in security.users:
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                )
            passwords.chmod(0o600)
            lines.append(f"password_file {passwords}")
        if security.acl is not None:
            acl = self.workdir / "acl"
            acl.write_text(security.acl)
            acl.chmod(0o600)
            lines.append(f"acl_file {acl}")
        if security.tls is not None:
            tls = security.tls
            lines += [
                f"cafile {tls.ca_file}",
                f"certfile {tls.cert_file}",
                f"keyfile {tls.key_file}",
                f"require_certificate {'true' if tls.require_certificate else 'false'}",
            ]
        return "".join(f"{line}\n" for line in lines)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def running_mosquitto(
    workdir: Path, queue_limit: int = 0, security: BrokerSecurity | None = None
) -> Iterator[Mosquitto]:
    broker = Mosquitto(workdir, free_port(), queue_limit=queue_limit, security=security)
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
