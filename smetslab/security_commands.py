"""`smetslab gbcs verify` and `smetslab gbcs sign`: GBCS signatures and MACs with a key
store (DCC Boxed's keystore.json or the RTDS PEM folder). Wiring only: `gbcs.security`
and `gbcs.keystore` do the work."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import gbcs
from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_bytes
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from gbcs.keystore import KeyStore, emulated_authority
from gbcs.security import KeyUse, protect, protections

from .errors import EXIT_ERROR
from .inputs import InputError, gbcs_bytes

KeysOption = Annotated[
    Path,
    typer.Option(
        "--keys", help="the key store: DCC Boxed's keystore.json, or a folder of RTDS PEM files"
    ),
]


def register_security(gbcs_app: typer.Typer) -> None:
    gbcs_app.command("verify")(verify)
    gbcs_app.command("sign")(sign)
    gbcs_app.command("keys")(keys_of_fleet)


def verify(
    files: Annotated[list[Path], typer.Argument(help="GBCS messages: hex text or binary files")],
    keys: KeysOption,
    at: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
            help="the messages' time where their header carries none (UTC unless given): "
            "a certificate not valid then is used all the same, and the protection's "
            "note says so",
        ),
    ] = None,
) -> None:
    """Check every signature and MAC of each file: one JSON line per file (file,
    protections, valid); valid only if it carries one or more and each was checked and
    found good. Exit 1 unless every file is valid."""
    store = KeyStore.load(keys)
    when = None if at is None else at if at.tzinfo else at.replace(tzinfo=UTC)
    all_valid = True
    for path in files:
        line = _verified(path, store, when)
        all_valid = all_valid and line["valid"]
        typer.echo(json.dumps(line))
    if not all_valid:
        raise typer.Exit(code=EXIT_ERROR)


def _verified(path: Path, store: KeyStore, at: datetime | None) -> dict[str, Any]:
    line: dict[str, Any] = {"file": str(path), "protections": [], "valid": False}
    try:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        found = protections(gbcs_bytes(str(path)), store, at=at)
    except (InputError, gbcs.GbcsError, OSError) as exc:
        line["error"] = str(exc)
        return line
    line["protections"] = [asdict(protection) for protection in found]
    line["valid"] = bool(found) and all(protection.valid is True for protection in found)
    return line


def sign(
    source: Annotated[str, typer.Argument(help="a pre-command: hex digits, a file, or -")],
    signer: Annotated[str, typer.Option("--as", help="the supplier who signs (EUI-64)")],
    keys: KeysOption,
    mac_with: Annotated[
        str, typer.Option(help="who MACs with the device's key-agreement certificate (EUI-64)")
    ] = DCC_ACCESS_CONTROL_BROKER,
) -> None:
    """Sign a pre-command as a supplier and MAC it (the Access Control Broker's
    key-agreement key with the recipient device's): print the command as hex."""
    precommand = gbcs_bytes(source)
    store = KeyStore.load(keys)
    recipient = gbcs.decode_header(precommand).header.recipient_id
    command = protect(
        precommand,
        signer=store.private_key(to_bytes(signer), KeyUse.DIGITAL_SIGNING),
        mac_own=store.private_key(to_bytes(mac_with), KeyUse.KEY_AGREEMENT),
        mac_peer=store.public_key(recipient, KeyUse.KEY_AGREEMENT),
    )
    typer.echo(command.hex().upper())


def keys_of_fleet(
    fleet_file: Annotated[
        Path, typer.Option("--fleet", help="the fleet file whose lab's keys to write")
    ],
    out: Annotated[Path, typer.Option(help="the folder to write them to (RTDS layout)")],
) -> None:
    """Write a lab's GBCS keys: the ACB's, the users' and every device's key pairs and
    certificates (the fleet's `keys:` store first, else the emulated PKI of its seed)
    and the test CA's certificate as `ca.pem`, for `--keys` of verify and sign, a
    fleet's `keys:`, or tools outside smetslab. One JSON line: the folder and counts."""
    spec, plan = load_fleet_spec(fleet_file)
    lab_keys = spec.key_store()
    if lab_keys is None:
        raise InputError(f"{fleet_file}: security is off in this fleet: it has no keys")
    build = build_fleet(spec, plan)
    parties = [DCC_ACCESS_CONTROL_BROKER, *(user.user_id for user in build.seed.users)]
    parties += [device.device_id for device in build.seed.devices]
    export = KeyStore(f"the keys of {fleet_file}")
    for party in dict.fromkeys(parties):
        for use in (KeyUse.DIGITAL_SIGNING, KeyUse.KEY_AGREEMENT):
            entity = to_bytes(party)
            entry = lab_keys.entries(entity, use)[0]
            export.add(
                entity, use, private=entry.private, certificate=_certificate(lab_keys, entity, use)
            )
    export.save(out)
    (out / "ca.pem").write_bytes(
        emulated_authority(spec.seed).public_bytes(serialization.Encoding.PEM)
    )
    typer.echo(json.dumps({"folder": str(out), "entities": len(export.entities())}))


def _certificate(store: KeyStore, entity: bytes, use: KeyUse) -> x509.Certificate | None:
    try:
        return store.certificate(entity, use)
    except gbcs.KeyStoreError:
        return None  # a bare public key in the fleet's own store
