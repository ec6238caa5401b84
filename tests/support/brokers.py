"""Real brokers for tests: a private mosquitto (bus.mosquitto; under CI=true its absence
fails the test instead of skipping it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bus.mosquitto import MOSQUITTO, BrokerSecurity, Mosquitto, running_mosquitto

__all__ = ["BrokerSecurity", "Mosquitto", "mosquitto"]


def require_mosquitto() -> None:
    if Path(MOSQUITTO).exists():
        return
    message = f"mosquitto not found at {MOSQUITTO} (Debian package mosquitto)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI must install it")
    pytest.skip(message)


@contextmanager
def mosquitto(workdir: Path, security: BrokerSecurity | None = None) -> Iterator[Mosquitto]:
    """A private mosquitto; `security` gives it users (a password file made with
    mosquitto_passwd, anonymous clients refused), an ACL and a TLS listener."""
    require_mosquitto()
    with running_mosquitto(workdir, security=security) as broker:
        yield broker
