"""asyncio.TaskGroup wraps the exception its body raises in an exception group, even when
no background task failed. A lab or client whose body raised (a failed scenario, a bad
name) gives that exception back as it was, so that callers catch `HilError`, not a group;
and so does one whose background task failed alone (a worker that could not be kept up,
D-S6), the body having ended or been cancelled for it."""

from __future__ import annotations


def sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside `group` (through nested groups), or None if several."""
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        if len(found.exceptions) != 1:
            return None
        found = found.exceptions[0]
    return found


def unwrap_body_error(
    group: BaseExceptionGroup[BaseException], body: BaseException | None
) -> BaseException:
    """What to raise for `group` at the end of a body that raised `body`."""
    sole = sole_error(group)
    if sole is None:
        return group
    cancelled = body is not None and not isinstance(body, Exception)  # for the failure
    if body is None or sole is body or cancelled:
        return sole
    return group
