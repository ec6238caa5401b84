"""A broker that is not there: the long-running commands try it (paced, D-O1) until
their connect time-out, then end with one `error:` line naming the client and the
broker, and exit 1 (issue: operations)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.mosquitto import free_port
from hil.shipped import shipped
from smetslab.cli import app
from tests.support.brokers import BrokerSecurity, mosquitto

pytestmark = pytest.mark.integration


def _args(command: str, broker: str, tmp_path: Path) -> list[str]:
    """`command` on `broker`, giving up after 0.5 s, with the store or fleet it needs."""
    args = [command, "--broker", broker, "--connect-timeout", "0.5"]
    if command == "dsp":
        return [*args, "--store", f"sqlite:///{tmp_path / 'dsp.sqlite'}"]
    return [*args, "--fleet", str(shipped("fleet.yaml"))]


@pytest.mark.parametrize("command", ["dsp", "fleet", "campaign"])
def test_an_unreachable_broker_is_one_error_line(command: str, tmp_path: Path) -> None:
    broker = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(app, _args(command, broker, tmp_path))
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: smetslab-{command}: no connection to {broker} in 0.5 s"]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["dsp", "fleet", "campaign"])
def test_a_wrong_password_is_one_error_line_without_it(
    command: str, tmp_path: Path, password_broker_url: str
) -> None:
    broker = password_broker_url.replace("://", "://dsp:wrong-guess@")
    result = CliRunner().invoke(app, _args(command, broker, tmp_path))
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    shown = password_broker_url.replace("://", "://dsp:***@")
    assert errors[0].startswith(f"error: smetslab-{command}: no connection to {shown} in 0.5 s")
    assert "refused" in errors[0]
    assert "wrong-guess" not in result.output


def test_tls_files_with_a_plain_broker_are_one_error_line(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    args = ["fleet", "--fleet", str(shipped("fleet.yaml")), "--broker-ca", str(ca)]
    result = CliRunner().invoke(app, [*args, "--broker", "mqtt://u:secret@127.0.0.1:1"])
    assert result.exit_code == 2  # a bad parameter, before anything connects
    said = " ".join(result.output.replace("│", " ").split())  # rich wraps the box
    assert "need mqtts://" in said
    assert "secret" not in said


@pytest.fixture
def password_broker_url(tmp_path: Path) -> Iterator[str]:
    with mosquitto(tmp_path / "broker", BrokerSecurity(users=(("dsp", "right"),))) as broker:
        yield broker.url
