"""`@record` (D11): frozen for mypy; at run time slotted, equal and hashed by field."""

from __future__ import annotations

from dataclasses import asdict, field, replace

import pytest

from contract.records import record


@record
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)


def test_equality_and_hash_are_by_field() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(1, 3)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert len({Point(1, 2), Point(1, 2), Point(2, 2)}) == 2


def test_records_are_slotted_dataclasses() -> None:
    point = Point(1)
    assert not hasattr(point, "__dict__")
    assert replace(point, y=5) == Point(1, 5)
    assert asdict(point) == {"x": 1, "y": 0, "tags": ()}
    match point:
        case Point(1, y=0):
            pass
        case _:
            pytest.fail("positional and keyword patterns match a record")


def test_mypy_treats_records_as_frozen() -> None:
    """The `type: ignore[misc]` below is the test: mypy runs strict with
    warn_unused_ignores, so it fails `make test` if assigning to a record's field stops
    being an error. At run time the assignment goes through (no `object.__setattr__`
    per field when a record is built)."""
    point = Point(1)
    point.x = 2  # type: ignore[misc]
    assert point.x == 2
