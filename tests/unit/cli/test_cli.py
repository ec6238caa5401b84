"""The command line: gbcs decode, ota inspect and the RTDS vector table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smetslab.cli import app
from tests.support.paths import read_hex, rtds_vectors

runner = CliRunner()
ALERT = next(path for path in rtds_vectors() if "8F66" in path.name)
HEADER_KEYS = [
    "cra_flag",
    "message_code",
    "originator_counter",
    "originator_id",
    "recipient_id",
    "date_time",
]


def _decode(*args: str, stdin: bytes | None = None) -> dict[str, object]:
    result = runner.invoke(app, ["gbcs", "decode", *args], input=stdin)
    assert result.exit_code == 0, result.output
    fields: dict[str, object] = json.loads(result.stdout)
    return fields


def test_decode_a_vector_file_prints_stable_keys_first() -> None:
    fields = _decode(str(ALERT))
    assert list(fields)[: len(HEADER_KEYS)] == HEADER_KEYS
    assert fields["message_code"] == 0x00CA
    assert fields["alert_code"] == 0x8F66
    assert fields["execution_datetime"] == "2030-01-15T09:00:00Z"
    assert fields["command_originator_counter"] == 1001
    assert fields["firmware_version"] == "0123ABCF"


def test_decode_hex_argument_and_stdin_agree_with_the_file() -> None:
    hex_text = ALERT.read_text().strip()
    assert _decode(hex_text) == _decode(str(ALERT))
    assert _decode("-", stdin=hex_text.encode()) == _decode(str(ALERT))
    assert _decode("-", stdin=read_hex(ALERT)) == _decode(str(ALERT))


def test_unmodelled_payload_prints_payload_hex(tmp_path: Path) -> None:
    # the ECS52 response with its message code changed to 0x00CC: header decodes, payload raw
    data = bytearray(
        read_hex(next(p for p in rtds_vectors() if "ECS52_11.2_SUCCESS_RESP" in p.name))
    )
    data[44:46] = b"\x00\xcc"
    binary = tmp_path / "alert.bin"
    binary.write_bytes(bytes(data))
    fields = _decode(str(binary))
    assert fields["message_code"] == 0x00CC
    assert fields["payload_hex"] == "DA200003E800000109040123ABCD010100"


def test_header_only_keeps_the_payload_raw() -> None:
    fields = _decode("--header-only", str(ALERT))
    assert fields["payload_type"] == "RawPayload"
    assert "alert_code" not in fields


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("DF0902", "at offset 3: expected 8 byte(s) of originator counter"),
        ("not-hex-and-no-file", "neither a file nor hex digits"),
        ("DF0", "odd number of hex digits"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(argument: str, message: str) -> None:
    result = runner.invoke(app, ["gbcs", "decode", argument])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_ota_inspect_reads_a_duis_request(duis_requests: Path) -> None:
    result = runner.invoke(
        app, ["ota", "inspect", str(duis_requests / "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML")]
    )
    assert result.exit_code == 0, result.output
    fields = json.loads(result.stdout)
    assert fields["manufacturer_code"] == 0x121D
    assert fields["file_version_hex"] == "ACDCACDC"
    assert fields["total_size"] == 361
    assert fields["header_string"] == "I am a GFI ESME[] firmware image"
    assert fields["subelements"] is None


def test_ota_inspect_rejects_a_non_image(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.ota"
    bogus.write_bytes(b"\x00" * 80)
    result = runner.invoke(app, ["ota", "inspect", str(bogus)])
    assert result.exit_code == 1
    assert "OTA upgrade file identifier" in result.stderr


def test_gbcs_vectors_lists_every_vector(rtds_dir: Path) -> None:
    result = runner.invoke(app, ["gbcs", "vectors", "--vectors", str(rtds_dir)])
    assert result.exit_code == 0, result.output
    for path in rtds_vectors():
        assert path.stem.removesuffix("_GBCS") in result.stdout
    assert "alert_code_name=FUTURE_DATED_EXECUTION_SUCCESS" in result.stdout
    alert_row = next(line for line in result.stdout.splitlines() if "8F66" in line)
    assert "│ CS06 " in alert_row
    assert "error" not in result.stdout


def test_gbcs_vectors_fails_on_an_empty_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["gbcs", "vectors", "--vectors", str(tmp_path)])
    assert result.exit_code == 1
    assert "no .HEX vectors" in result.stderr
