"""Every command and subcommand of `smetslab` says what it does, and `--version` says
which smetslab it is (issue: operations)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from smetslab.cli import app
from smetslab.version import smetslab_version


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_tree_has_the_commands_a_lab_uses() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"demo", "dsp", "fleet", "campaign", "lab up", "hil run", "hil conform"} <= paths
    assert {"bridge serial", "bridge zigbee", "rig simulate", "gbcs decode", "ota inspect"} <= paths


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS[1:], ids=[" ".join(path) for path, _ in COMMANDS[1:]]
)
def test_every_command_has_help(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip(), f"smetslab {' '.join(path)} has no help text"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    first = (command.help or "").strip().splitlines()[0]
    assert first[:30] in " ".join(result.output.split())


def test_version_names_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(
        rf"smetslab {re.escape(smetslab_version())}( \(commit \w+(\+dirty)?\))?\n", result.output
    )
