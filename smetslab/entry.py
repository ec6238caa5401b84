"""The `smetslab` command's first lines: SIGINT and SIGTERM are handled before anything
else is imported (the command line pulls in zigpy, SQLAlchemy, pydantic, ...: a second
or two), so a signal that comes while a command starts ends it with 128 + the signal,
not a traceback; `smetslab.signals.run_command` takes over once the command runs."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _stop_while_starting(number: int, frame: FrameType | None) -> None:
    # Not `raise SystemExit`: a signal handler's exception raised while the interpreter
    # runs a finalizer or a C callback is printed as "Exception ignored" and lost, and the
    # command would go on as if never signalled (seen on CI). Nothing is held yet that
    # needs closing: leave at once, with the code a shell expects.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + number)


def main() -> None:
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, _stop_while_starting)
    from smetslab.cli import main as run_cli  # noqa: PLC0415 - after the handlers, on purpose

    run_cli()
