"""`smetslab gbcs verify` and `smetslab gbcs sign` on the RTDS vectors and keys, and
`smetslab gbcs keys` writing a lab's PKI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from typer.testing import CliRunner

from gbcs.envelope import MAC_SIZE, read_envelope
from gbcs.keystore import DerivedKeyStore, KeyStore
from gbcs.security import SIGNATURE_SIZE, KeyUse
from smetslab.cli import app
from tests.support.paths import RTDS_KEYS, ZAZ1_KEYSTORE, read_vector, rtds_vector

runner = CliRunner()
SUPPLIER = "90-B3-D5-1F-30-01-00-00"
ACB = "90-B3-D5-1F-30-00-00-02"
PROTECTED = [
    "CS06_11.3_IMMEDIATE_SUCCESS_COMMAND",
    "CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE",
    "CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT",
    "ECS52_11.2_SUCCESS_COMMAND",
    "ECS52_11.2_SUCCESS_RESPONSE",
    "CS08_11.2_ERROR_RESPONSE",
    "FDRA-ZigBee_NA_8F72_ALERT",
]
PRECOMMAND = "CS06_11.3_FUTURE_DATED_SUCCESS_PRECOMMAND"


def _verify(*args: str) -> tuple[int, list[dict[str, Any]]]:
    result = runner.invoke(app, ["gbcs", "verify", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, lines


def test_verify_prints_a_json_line_per_file_and_exits_0_when_all_are_valid() -> None:
    code, lines = _verify(*(str(rtds_vector(name)) for name in PROTECTED), "--keys", str(RTDS_KEYS))
    assert code == 0
    assert [line["file"] for line in lines] == [str(rtds_vector(name)) for name in PROTECTED]
    assert all(line["valid"] is True for line in lines)
    assert lines[0]["protections"] == [
        {"kind": "signature", "by": SUPPLIER, "valid": True, "reason": None, "note": None},
        {"kind": "mac", "by": ACB, "valid": True, "reason": None, "note": None},
    ]
    (response,) = lines[1]["protections"]
    assert (response["kind"], response["by"], response["valid"]) == (
        "signature",
        "00-DB-12-34-56-78-90-A0",
        True,
    )
    # stamped 2015-01-01, before the ESME's certificate: used, and said
    assert "2015-01-01" in response["note"]


def test_verify_at_states_a_certificate_expired_at_the_messages_time() -> None:
    command = str(rtds_vector(PROTECTED[0]))
    code, lines = _verify(command, "--keys", str(RTDS_KEYS), "--at", "2030-01-01")
    assert code == 0  # expired test certificates stay usable
    notes = [p["note"] for p in lines[0]["protections"]]
    assert all(note is not None and "2025-10-29" in note for note in notes)


def test_verify_exits_1_for_a_tampered_an_unprotected_or_an_unreadable_file(
    tmp_path: Path,
) -> None:
    tampered = tmp_path / "tampered.bin"
    data = bytearray(read_vector("CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE"))
    data[60] ^= 0x01
    tampered.write_bytes(bytes(data))
    garbage = tmp_path / "garbage.hex"
    garbage.write_text("DF09")
    files = [str(tampered), str(rtds_vector(PRECOMMAND)), str(garbage), str(tmp_path / "no.hex")]
    good = str(rtds_vector(PROTECTED[0]))
    code, lines = _verify(good, *files, "--keys", str(RTDS_KEYS))
    assert code == 1
    assert [line["valid"] for line in lines] == [True, False, False, False, False]
    assert lines[1]["protections"][0]["valid"] is False
    assert "does not verify" in lines[1]["protections"][0]["reason"]
    assert lines[2]["protections"] == []  # a pre-command carries nothing
    assert "expected" in lines[3]["error"]
    assert lines[4]["error"].endswith("no such file")


def test_verify_with_a_store_lacking_the_keys_says_what_was_not_checked() -> None:
    name = "ECS52_11.2_SUCCESS_RESPONSE"  # MACed by the ESME for the supplier
    code, lines = _verify(str(rtds_vector(name)), "--keys", str(ZAZ1_KEYSTORE))
    assert code == 1
    [protection] = lines[0]["protections"]
    assert protection["valid"] is None
    assert protection["reason"].startswith("no key-agreement (ka) key of 00-DB-12-34-56-78-90-A0")


def test_verify_handles_a_thousand_files_with_one_load_of_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[Path] = []
    load = KeyStore.load

    def counted(path: Path) -> KeyStore:
        loads.append(path)
        return load(path)

    monkeypatch.setattr(KeyStore, "load", counted)
    names = ["CS06_11.3_IMMEDIATE_SUCCESS_COMMAND", "ECS52_11.2_SUCCESS_RESPONSE"]
    sources = [rtds_vector(name).read_text() for name in names]
    files = []
    for index in range(1000):
        path = tmp_path / f"{index:04}.hex"
        path.write_text(sources[index % 2])
        files.append(str(path))
    code, lines = _verify(*files, "--keys", str(RTDS_KEYS))
    assert code == 0
    assert len(lines) == 1000
    assert all(line["valid"] for line in lines)
    assert loads == [RTDS_KEYS]


def test_sign_makes_the_rtds_command_from_its_precommand() -> None:
    expected = read_vector("CS06_11.3_FUTURE_DATED_SUCCESS_COMMAND")
    result = runner.invoke(
        app,
        ["gbcs", "sign", str(rtds_vector(PRECOMMAND)), "--as", SUPPLIER, "--keys", str(RTDS_KEYS)],
    )
    assert result.exit_code == 0, result.output
    command = bytes.fromhex(result.stdout.strip())
    assert result.stdout.strip() == result.stdout.strip().upper()
    signature_at = read_envelope(expected).payload_end + 1
    assert len(command) == len(expected)
    for part in (slice(0, signature_at), slice(signature_at + SIGNATURE_SIZE, -MAC_SIZE)):
        assert command[part] == expected[part]


def test_signed_output_verifies(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "gbcs",
            "sign",
            str(rtds_vector(PRECOMMAND)),
            "--as",
            "90B3D51F30010000",
            "--keys",
            str(RTDS_KEYS),
            "--mac-with",
            ACB,
        ],
    )
    assert result.exit_code == 0, result.output
    command = tmp_path / "command.hex"
    command.write_text(result.stdout)
    code, lines = _verify(str(command), "--keys", str(RTDS_KEYS))
    assert code == 0
    assert [(p["kind"], p["by"], p["valid"]) for p in lines[0]["protections"]] == [
        ("signature", SUPPLIER, True),
        ("mac", ACB, True),
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--as", "00-DB-12-34-56-78-90-A0"],
            "error: no private digital-signing (ds) key of 00-DB",
        ),
        (["--as", "not-an-id"], "error: 'not-an-id' is not an EUI-64"),
        (
            ["--as", SUPPLIER, "--mac-with", "00-DB-12-34-56-78-90-A0"],
            "error: no private key-agreement (ka) key of 00-DB-12-34-56-78-90-A0",
        ),
    ],
)
def test_sign_errors_are_one_error_line(args: list[str], expected: str) -> None:
    result = runner.invoke(
        app, ["gbcs", "sign", str(rtds_vector(PRECOMMAND)), *args, "--keys", str(RTDS_KEYS)]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(expected), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_sign_refuses_a_signed_command_and_a_missing_store(tmp_path: Path) -> None:
    command = str(rtds_vector("CS06_11.3_IMMEDIATE_SUCCESS_COMMAND"))
    result = runner.invoke(
        app, ["gbcs", "sign", command, "--as", SUPPLIER, "--keys", str(RTDS_KEYS)]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot sign the command from 90-B3-D5-1F-30-01-00-00")
    result = runner.invoke(app, ["gbcs", "verify", command, "--keys", str(tmp_path / "absent")])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {tmp_path / 'absent'}: no such key store (a keystore.json file or a PEM folder)\n"
    )


FLEET = """
seed: 31
security: {security}
templates:
  - name: home
    count: 2
    devices:
      - {{type: CHF, model: CH-1, firmware_versions: ["00000001"]}}
      - {{type: ESME, model: E-1, firmware_versions: ["00000001"]}}
"""


def test_keys_writes_the_labs_pki_that_verify_and_sign_then_use(tmp_path: Path) -> None:
    """D-SEC10: the emulated PKI kept in a folder is the one the lab derives."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET.format(security="true"))
    out = tmp_path / "keys"
    result = runner.invoke(app, ["gbcs", "keys", "--fleet", str(fleet), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["entities"] == 3 + 4  # ACB, supplier, network operator; 2 x (CHF, ESME)
    written = KeyStore.load(out)
    derived = DerivedKeyStore(31)
    authority = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    for entity in written.entities():
        for use in (KeyUse.DIGITAL_SIGNING, KeyUse.KEY_AGREEMENT):
            assert written.public_key(entity, use) == derived.public_key(entity, use)
            written.certificate(entity, use).verify_directly_issued_by(authority)
    assert written.has_private(bytes.fromhex("90B3D51F30010000"), KeyUse.DIGITAL_SIGNING)


def test_keys_of_a_fleet_without_security_is_one_error(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET.format(security="false"))
    result = runner.invoke(app, ["gbcs", "keys", "--fleet", str(fleet), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "security is off" in result.output
