"""The broker identity and TLS options, taken the same way by every command that
connects (`dsp`, `fleet`, `campaign`, `demo`, `lab up`, the bridges, `request`): each adds
the four parameters below and calls `broker_url`, which folds them into the broker URL
(`bus.identity.BrokerOptions`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bus.errors import BrokerUrlError
from bus.identity import BrokerOptions

BROKER_HELP = "the MQTT broker: mqtt://[user[:password]@]host:port or mqtts://host:8883"

PasswordFile = Annotated[
    Path | None,
    typer.Option("--password-file", help="the broker password, first line of this file"),
]
BrokerCa = Annotated[
    Path | None, typer.Option("--broker-ca", help="CA file for an mqtts:// broker")
]
BrokerCert = Annotated[
    Path | None, typer.Option("--broker-cert", help="client certificate for the broker (PEM)")
]
BrokerKey = Annotated[Path | None, typer.Option("--broker-key", help="key of --broker-cert (PEM)")]


def broker_url(
    url: str,
    password_file: Path | None = None,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> str:
    """`url` with the options in it; a bad combination is one line naming --broker."""
    options = BrokerOptions(password_file, ca_file, cert_file, key_file)
    try:
        return options.apply(url)
    except BrokerUrlError as exc:
        raise typer.BadParameter(str(exc), param_hint="--broker") from exc
