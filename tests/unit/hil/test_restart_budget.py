"""D-S6: when a lab process that died unasked is started again, and when the lab gives
up on it (sans-IO: the times are given, not read)."""

from __future__ import annotations

import pytest

from hil.lab.supervisor import NO_RESTART, GiveUp, Restart, RestartBudget, RestartPolicy


def test_restarts_wait_longer_each_time_within_the_window() -> None:
    budget = RestartBudget(RestartPolicy(burst=4, window=60, delays=(0.0, 0.5, 2.0)))
    decisions = [budget.on_exit(now) for now in (0.0, 1.0, 2.0, 3.0)]
    assert decisions == [Restart(0.0, 1), Restart(0.5, 2), Restart(2.0, 3), Restart(2.0, 4)]


def test_gives_up_at_the_burst_and_names_it() -> None:
    budget = RestartBudget(RestartPolicy(burst=2, window=30))
    assert isinstance(budget.on_exit(0.0), Restart)
    assert isinstance(budget.on_exit(5.0), Restart)
    decision = budget.on_exit(10.0)
    assert decision == GiveUp("restarted 2 times within 30 s")


def test_restarts_older_than_the_window_no_longer_count() -> None:
    budget = RestartBudget(RestartPolicy(burst=2, window=30, delays=(0.0, 1.0)))
    budget.on_exit(0.0)
    budget.on_exit(10.0)
    assert budget.on_exit(30.0) == Restart(1.0, 2)  # the one at 0 s has left the window
    assert isinstance(budget.on_exit(35.0), GiveUp)  # 10 s and 30 s are within it


def test_a_shard_is_never_restarted_and_the_reason_says_why() -> None:
    decision = RestartBudget(NO_RESTART).on_exit(0.0)
    assert isinstance(decision, GiveUp)
    assert "its devices' state" in decision.reason


@pytest.mark.parametrize(
    "bad", [{"burst": -1}, {"window": 0}, {"delays": ()}], ids=["burst", "window", "delays"]
)
def test_a_policy_that_cannot_work_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="restart policy"):
        RestartPolicy(**bad)  # type: ignore[arg-type]
