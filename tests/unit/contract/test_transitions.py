"""contract.transitions: the one table helper every state machine moves by, and the one
`IllegalTransitionError` naming role, state and event."""

from __future__ import annotations

from enum import IntEnum, StrEnum

import pytest

from contract.errors import IllegalTransitionError, SmetslabError
from contract.transitions import EventGuard, TransitionTable, label


class Door(StrEnum):
    OPEN = "open"
    SHUT = "shut"


class Push(IntEnum):
    CLOSE = 1
    OPEN = 2


TABLE: TransitionTable[Door, Push] = TransitionTable(
    {(Door.OPEN, Push.CLOSE): Door.SHUT, (Door.SHUT, Push.OPEN): Door.OPEN}
)


def test_next_follows_the_table() -> None:
    assert TABLE.next("door 1", Door.OPEN, Push.CLOSE) is Door.SHUT
    assert TABLE.next("door 1", Door.SHUT, Push.OPEN) is Door.OPEN
    assert TABLE.allows(Door.OPEN, Push.CLOSE)
    assert not TABLE.allows(Door.OPEN, Push.OPEN)


def test_a_pair_the_table_lacks_names_role_state_and_event() -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        TABLE.next("door 1", Door.OPEN, Push.OPEN)
    error = raised.value
    assert (error.role, error.state, error.event) == ("door 1", "open", "OPEN")
    assert str(error) == "door 1: event OPEN is not allowed in state open"
    assert isinstance(error, SmetslabError)


def test_labels_a_string_enum_by_value_another_enum_by_name_the_rest_by_str() -> None:
    assert label(Door.SHUT) == "shut"
    assert label(Push.CLOSE) == "CLOSE"
    assert label("waiting") == "waiting"
    assert label(3) == "3"


def test_the_table_reads_as_a_mapping_and_cannot_be_changed_through_its_source() -> None:
    rows = {(Door.OPEN, Push.CLOSE): Door.SHUT}
    table = TransitionTable(rows)
    rows[Door.SHUT, Push.OPEN] = Door.OPEN
    assert dict(table) == {(Door.OPEN, Push.CLOSE): Door.SHUT}
    assert len(table) == 1
    assert table.get((Door.SHUT, Push.OPEN)) is None


def test_a_guard_allows_its_pairs_and_refuses_the_rest_as_a_table_does() -> None:
    guard = EventGuard([(Door.OPEN, Push.CLOSE)])
    guard.check("door 2", Door.OPEN, Push.CLOSE)
    assert (Door.OPEN, Push.CLOSE) in guard
    with pytest.raises(
        IllegalTransitionError, match="door 2: event OPEN is not allowed in state shut"
    ):
        guard.check("door 2", Door.SHUT, Push.OPEN)
