"""smetslab/logs.py: one logging set-up for every command (issue: operations)."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from smetslab import logs
from smetslab.cli import app
from smetslab.logs import JsonFormatter, LogFormat, LogLevel, LogOptions


@pytest.mark.parametrize(
    ("options", "default", "level"),
    [
        (LogOptions(), logging.INFO, logging.INFO),
        (LogOptions(verbose=1), logging.WARNING, logging.INFO),
        (LogOptions(verbose=5), logging.INFO, logging.DEBUG),
        (LogOptions(quiet=1), logging.INFO, logging.WARNING),
        (LogOptions(quiet=9), logging.INFO, logging.CRITICAL),
        (LogOptions(LogLevel.ERROR, verbose=2), logging.INFO, logging.ERROR),
    ],
)
def test_the_level_is_the_commands_default_moved_by_v_and_q_unless_named(
    options: LogOptions, default: int, level: int
) -> None:
    assert options.level_for(default) == level


def test_a_json_line_carries_time_level_logger_and_message() -> None:
    record = logging.LogRecord("bus.adapter", logging.WARNING, "f", 1, "hub %s down", ("A",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "warning"
    assert (line["logger"], line["message"]) == ("bus.adapter", "hub A down")
    assert line["time"].endswith("+00:00")


def test_the_command_line_options_reach_the_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[LogOptions] = []
    monkeypatch.setattr(logs, "set_options", seen.append)
    monkeypatch.setattr("smetslab.cli.set_options", seen.append)
    result = CliRunner().invoke(app, ["-vv", "--log-format", "json", "gbcs", "decode", "00"])
    assert result.exit_code == 1  # the input is bad; the options were taken first
    assert seen == [LogOptions(None, 2, 0, LogFormat.JSON)]


def test_the_set_up_writes_timestamped_lines_off_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "_options", LogOptions(quiet=0))
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.setup_logging(logging.INFO)
        logging.getLogger("smetslab.test").info("device %s answered", "00DB")
        err = capsys.readouterr().err
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert " INFO smetslab.test: device 00DB answered" in err
    assert err[:4].isdigit()  # the time first
