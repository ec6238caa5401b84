"""The `smetslab` command's first lines: SIGINT and SIGTERM are handled before anything
else is imported (the command line pulls in zigpy, SQLAlchemy, pydantic, ...: a second
or two), so a signal that comes while a command starts ends it with 128 + the signal,
not a traceback; `smetslab.signals.run_command` takes over once the command runs."""

from __future__ import annotations

import signal
from types import FrameType


def _stop_while_starting(number: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + number)


def main() -> None:
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, _stop_while_starting)
    from smetslab.cli import main as run_cli  # noqa: PLC0415 - after the handlers, on purpose

    run_cli()
