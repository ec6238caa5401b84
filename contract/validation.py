"""A pydantic validation error as one line: `where: what` for each field that failed,
the field named by its dotted path (`body.firmware_hash`, `templates.0.devices`)."""

from __future__ import annotations

from pydantic import ValidationError


def describe(exc: ValidationError, whole: str = "message", *, first: bool = False) -> str:
    """`loc: msg; loc: msg`; `whole` names a failure of the input itself (no field);
    `first` keeps only the first failure."""
    errors = exc.errors(include_url=False)
    parts = [_one(error["loc"], error["msg"], whole) for error in errors[: 1 if first else None]]
    return "; ".join(parts)


def _one(loc: tuple[int | str, ...], msg: str, whole: str) -> str:
    where = ".".join(str(part) for part in loc) or whole
    return f"{where}: {msg}"
