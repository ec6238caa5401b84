"""A broker that is not there: the long-running commands try it (paced, D-O1) until
their connect time-out, then end with one `error:` line naming the client and the
broker, and exit 1 (issue: operations)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.mosquitto import free_port
from hil.shipped import shipped
from smetslab.cli import app

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("command", ["dsp", "fleet", "campaign"])
def test_an_unreachable_broker_is_one_error_line(command: str, tmp_path: Path) -> None:
    broker = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    args = [command, "--broker", broker, "--connect-timeout", "0.5"]
    if command == "dsp":
        args += ["--store", f"sqlite:///{tmp_path / 'dsp.sqlite'}"]
    else:
        args += ["--fleet", str(shipped("fleet.yaml"))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: smetslab-{command}: no connection to {broker} in 0.5 s"]
    assert "Traceback" not in result.output
