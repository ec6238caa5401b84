"""The one timer heap: entries come out in due order, ties in push order, and entries
pushed while draining are seen in the same drain when due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emulators.scheduler import Scheduler

T = datetime(2030, 1, 1, tzinfo=UTC)


def test_due_order_then_push_order() -> None:
    scheduler: Scheduler[str, int] = Scheduler()
    scheduler.push(T + timedelta(seconds=2), "b", 1)
    scheduler.push(T, "a", 2)
    scheduler.push(T + timedelta(seconds=2), "c", 3)
    assert scheduler.next_due() == T
    assert [(t, e) for _, t, e in scheduler.pop_due(T + timedelta(seconds=2))] == [
        ("a", 2),
        ("b", 1),
        ("c", 3),
    ]
    assert len(scheduler) == 0
    assert scheduler.next_due() is None


def test_entries_after_now_stay() -> None:
    scheduler: Scheduler[str, int] = Scheduler()
    scheduler.push(T + timedelta(seconds=1), "late", 1)
    assert list(scheduler.pop_due(T)) == []
    assert len(scheduler) == 1


def test_entries_pushed_while_draining_are_seen_when_due() -> None:
    scheduler: Scheduler[str, int] = Scheduler()
    scheduler.push(T, "first", 1)
    seen = []
    for due, target, event in scheduler.pop_due(T + timedelta(seconds=5)):
        seen.append(target)
        if event == 1:
            scheduler.push(due + timedelta(seconds=1), "follow-up", 2)
            scheduler.push(due + timedelta(seconds=10), "too late", 3)
    assert seen == ["first", "follow-up"]
    assert len(scheduler) == 1
