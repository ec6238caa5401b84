"""The `smetslab` command: wiring only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import gbcs
from gbcs.ota import parse_ota_image

from .bridge_commands import register_bridge
from .check_command import check
from .commands import register_processes
from .errors import RootErrorGroup, fail
from .hil_commands import register_hil
from .init_command import init
from .inputs import InputError, gbcs_bytes, ota_bytes
from .lab_commands import register_lab
from .logs import LogFormat, LogLevel, LogOptions, set_options
from .request_command import request
from .security_commands import register_security
from .version import describe
from .views import ota_fields, summary_row

app = typer.Typer(
    cls=RootErrorGroup, no_args_is_help=True, help="smetslab: GB smart-metering firmware lab."
)
gbcs_app = typer.Typer(no_args_is_help=True, help="Decode, verify and sign GBCS messages.")
ota_app = typer.Typer(no_args_is_help=True, help="Inspect ZigBee OTA firmware images.")
app.add_typer(gbcs_app, name="gbcs")
app.add_typer(ota_app, name="ota")

SourceArg = Annotated[str, typer.Argument(help="hex digits, a file, or - for standard input")]


def _version(shown: bool) -> None:
    if shown:
        typer.echo(describe())
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
    log_level: Annotated[
        LogLevel | None, typer.Option(help="the log level (wins over -v/-q)")
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="one log level more each")
    ] = 0,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True, help="one level less")] = 0,
    log_format: Annotated[
        LogFormat, typer.Option(help="text (rich on a terminal) or json, a line each")
    ] = LogFormat.TEXT,
) -> None:
    """smetslab: GB smart-metering firmware lab."""
    set_options(LogOptions(log_level, verbose, quiet, log_format))


DEFAULT_VECTORS = Path("../shared/testdata/gbcs/rtds-4.5.0")


def _print_json(fields: dict[str, Any]) -> None:
    typer.echo(json.dumps(fields, indent=2))


@gbcs_app.command("decode")
def gbcs_decode(
    source: SourceArg,
    header_only: Annotated[
        bool, typer.Option("--header-only", help="decode the envelope, keep the payload raw")
    ] = False,
) -> None:
    """Print a GBCS message as JSON (header fields first, then the use-case fields)."""
    data = gbcs_bytes(source)
    message = gbcs.decode_header(data) if header_only else gbcs.decode(data)
    _print_json(gbcs.message_fields(message))


@ota_app.command("inspect")
def ota_inspect(
    source: Annotated[str, typer.Argument(help="an OTA file, base64 text, or a DUIS 11.1 request")],
) -> None:
    """Print a ZigBee OTA image header and its sub-elements as JSON."""
    image = parse_ota_image(ota_bytes(source))
    _print_json(ota_fields(image))


@gbcs_app.command("vectors")
def gbcs_vectors(
    vectors: Annotated[Path, typer.Option(help="folder of RTDS .HEX vectors")] = DEFAULT_VECTORS,
) -> None:
    """Decode every RTDS firmware vector and print what each one is."""
    files = sorted(vectors.rglob("*.HEX"))
    if not files:
        raise fail(f"no .HEX vectors under {vectors}")
    table = Table(title=f"{len(files)} RTDS firmware vectors, decoded ({vectors})")
    for column in ("vector", "envelope", "kind", "use case", "counter", "from", "to", "content"):
        table.add_column(column, no_wrap=column != "content")
    failures = 0
    for path in files:
        name = path.stem.removesuffix("_GBCS")
        try:
            message = gbcs.decode(gbcs_bytes(str(path)))
        except (InputError, gbcs.GbcsDecodeError) as exc:
            failures += 1
            table.add_row(name, "", "[red]error", "", "", "", "", str(exc))
            continue
        table.add_row(name, *summary_row(message))
    _console().print(table)
    if failures:
        raise fail(f"{failures} vector(s) did not decode")


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 200)


register_security(gbcs_app)
register_processes(app)
app.command("init")(init)
app.command("request")(request)
app.command("check")(check)
register_bridge(app)
register_hil(app)
register_lab(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
