"""Every input error a user can make is one `error:` line naming the thing and where,
and exit status 1: a case per command and class of error (issue: operations)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hil.shipped import shipped
from smetslab.cli import app

FLEET = str(shipped("fleet.yaml"))
RIG = str(shipped("rig.yaml"))
BAD_BROKER = "http://broker"
STORE = "sqlite:///{tmp}/dsp.sqlite"


@pytest.fixture
def bad_fleet(tmp_path: Path) -> Path:
    path = tmp_path / "typo.yaml"
    path.write_text("seed: 1\ntemplatez: []\n")
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _cases(tmp: Path, bad_fleet: Path, busy_port: int) -> list[tuple[list[str], str]]:
    store = STORE.format(tmp=tmp)
    missing = str(tmp / "missing.yaml")
    return [
        # a broker URL that is not mqtt://host:port
        (["dsp", "--broker", BAD_BROKER, "--store", store], "broker URL 'http://broker'"),
        (["fleet", "--broker", BAD_BROKER, "--fleet", FLEET], "broker URL 'http://broker'"),
        (["campaign", "--broker", BAD_BROKER, "--fleet", FLEET], "broker URL 'http://broker'"),
        (["demo", "--broker", BAD_BROKER, "--premises", "2"], "broker URL 'http://broker'"),
        # a store URL of no known kind
        (["dsp", "--store", "mysql://db/x"], "store URL mysql://db/x"),
        (
            ["lab", "up", "--store", "mysql://db/x", "--fleet", FLEET, "--workdir", str(tmp)],
            "store URL mysql://db/x",
        ),
        # a fleet file missing
        (["dsp", "--fleet", missing, "--store", store], f"{missing}: cannot read YAML"),
        (["campaign", "--fleet", missing], f"{missing}: cannot read YAML"),
        (["demo", "--fleet", missing], f"{missing}: cannot read YAML"),
        (["fleet", "--fleet", missing], f"{missing}: cannot read YAML"),
        # a fleet file with a typo: the field named
        (["dsp", "--fleet", str(bad_fleet), "--store", store], "templatez: Extra inputs"),
        (["campaign", "--fleet", str(bad_fleet)], "templatez: Extra inputs"),
        (["demo", "--fleet", str(bad_fleet)], "templatez: Extra inputs"),
        # a port in use
        (
            ["rig", "simulate", "--fleet", RIG, "--listen", f"127.0.0.1:{busy_port}"],
            f"cannot listen on 127.0.0.1:{busy_port}",
        ),
        # input that is not what the command reads
        (["gbcs", "decode", "0F"], "at offset"),
        (["ota", "inspect", missing], "missing.yaml"),
        (["hil", "run", "--env", missing, missing], missing),
        # a GBCS key store that cannot be read (issue 17): named before anything runs
        (["request", "11.2", "--device", "00DB000000000001", "--keys", missing], missing),
        (
            [
                *("hil", "conform", "--device", "00DB000000000001", "--user"),
                *("90B3D51F30010000", "--held", f"0123ABCF:{'AB' * 32}"),
                *("--second-held", f"0123ABD0:{'CD' * 32}", "--keys", missing),
            ],
            missing,
        ),
    ]


def test_each_input_error_is_one_line_naming_it(
    tmp_path: Path, bad_fleet: Path, busy_port: int
) -> None:
    failures = []
    for argv, says in _cases(tmp_path, bad_fleet, busy_port):
        result = CliRunner().invoke(app, argv)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        if result.exit_code != 1 or len(errors) != 1 or says not in errors[0]:
            failures.append(f"smetslab {' '.join(argv)}: exit {result.exit_code}\n{result.output}")
        elif "Traceback" in result.output:
            failures.append(f"smetslab {' '.join(argv)}: a traceback\n{result.output}")
    assert not failures, "\n\n".join(failures)
    assert not (tmp_path / "mosquitto").exists()  # refused before anything started
