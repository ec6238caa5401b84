"""One logging set-up for every command: the level from `--log-level`, or the command's
own default moved by `-v`/`-q`; timestamps always; rich on a terminal, plain lines
elsewhere, or one JSON object a line with `--log-format json` (for a log collector)."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from rich.logging import RichHandler

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def number(self) -> int:
        return int(logging.getLevelName(self.name))


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class LogOptions:
    level: LogLevel | None = None  # wins over -v/-q
    verbose: int = 0  # each -v one level more
    quiet: int = 0  # each -q one level less
    format: LogFormat = LogFormat.TEXT

    def level_for(self, default: int) -> int:
        if self.level is not None:
            return self.level.number
        moved = default - 10 * self.verbose + 10 * self.quiet
        return min(max(moved, logging.DEBUG), logging.CRITICAL)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}`, and the error when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


_options = LogOptions()


def set_options(options: LogOptions) -> None:
    """What the command line said (the root callback); applied by `setup_logging`."""
    global _options  # noqa: PLW0603 - one process, one command line
    _options = options


def setup_logging(default: int = logging.INFO) -> None:
    """Configure the root logger for this command; `default` is its level without -v/-q."""
    handler: logging.Handler
    if _options.format is LogFormat.JSON:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        handler = RichHandler(show_path=False, log_time_format="%H:%M:%S.%f")
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(PLAIN))
    logging.basicConfig(level=_options.level_for(default), handlers=[handler], force=True)
