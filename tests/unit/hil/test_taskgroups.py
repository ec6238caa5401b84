"""hil.taskgroups: what a lab raises at its end is the error that ended it, not a group."""

from __future__ import annotations

from asyncio import CancelledError

from hil.taskgroups import unwrap_body_error


class _FailedError(Exception):
    pass


def test_a_group_of_one_gives_back_the_error_of_the_body_or_of_the_task() -> None:
    """What a lab raises at its end: the body's own error; a background task's, when the
    body ended or was cancelled for it (D-S6); the group when there are several."""
    body, task = _FailedError("body"), _FailedError("task")
    assert unwrap_body_error(BaseExceptionGroup("g", [body]), body) is body
    assert unwrap_body_error(BaseExceptionGroup("g", [task]), None) is task
    assert unwrap_body_error(BaseExceptionGroup("g", [task]), CancelledError()) is task
    both = BaseExceptionGroup("g", [body, task])
    assert unwrap_body_error(both, body) is both
    nested = BaseExceptionGroup("g", [BaseExceptionGroup("inner", [task])])
    assert unwrap_body_error(nested, None) is task
