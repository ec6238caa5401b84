"""`@record`: the immutable records of `contract`, `gbcs` and `dsp_core`, cheap to build.

A record is a slotted dataclass that type checkers treat as frozen (PEP 681,
`frozen_default`): mypy rejects any assignment to a field, and `dataclasses.replace`
makes changed copies. Equality and hashing are by field, as for a frozen dataclass.

It is not frozen at run time: a frozen dataclass sets every field of every instance
through `object.__setattr__`, about four times the cost of a plain slotted one, and
the DSP builds some forty records per round trip (docs/decisions.md, D11).
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field
from typing import TypeVar, dataclass_transform

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record(cls: type[_T]) -> type[_T]:
    return dataclass(slots=True, unsafe_hash=True)(cls)
