"""How the command line ends on an error: one line on standard error, exit status 1.

Every command runs under `RootErrorGroup`, which turns any `SmetslabError` a command
lets through (a bad file, a broker that refuses, a lab that cannot start) into
`error: <what was wrong and where>`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from bus.identity import mask_url
from contract.errors import SmetslabError

EXIT_ERROR = 1  # bad input, or the run could not start


def fail(message: str) -> typer.Exit:
    """Print `error: message` (any broker password in it masked) on standard error;
    raise what this returns."""
    typer.echo(f"error: {mask_url(message)}", err=True)
    return typer.Exit(code=EXIT_ERROR)


class RootErrorGroup(TyperGroup):
    """The `smetslab` group: catches the root of every package's exception tree."""

    # typer vendors click; its Context base is private (typer._click), so the public
    # subclass is named here and the narrower parameter is allowed by hand.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SmetslabError as exc:
            raise fail(str(exc)) from exc
