"""`Scope.merged` (D19): the events of a batch share one `State` when their scopes
merge; a second CPL version or a second tick time starts another run."""

from __future__ import annotations

from datetime import UTC, datetime

from dsp_core.state import Scope

T1 = datetime(2031, 1, 1, tzinfo=UTC)
T2 = datetime(2031, 1, 2, tzinfo=UTC)
ESME_KEY = ("TOSHIBA", "E470", "0123ABCD")


def test_merged_scopes_reach_what_either_reaches() -> None:
    request = Scope(
        user_ids=frozenset({"U"}),
        device_ids=frozenset({"A"}),
        originators=frozenset({"U"}),
        hubs_of_devices=True,
    )
    response = Scope(
        device_ids=frozenset({"B"}),
        ch_ids=frozenset({"H"}),
        request_keys=frozenset({("U", 7)}),
        report_keys=frozenset({("B", "U", 2, 18, 7)}),
    )
    merged = request.merged(response)
    assert merged == Scope(
        user_ids=frozenset({"U"}),
        device_ids=frozenset({"A", "B"}),
        ch_ids=frozenset({"H"}),
        originators=frozenset({"U"}),
        request_keys=frozenset({("U", 7)}),
        report_keys=frozenset({("B", "U", 2, 18, 7)}),
        hubs_of_devices=True,
    )
    assert response.merged(request) == merged


def test_one_cpl_version_and_one_tick_time_per_run() -> None:
    assert Scope(version=ESME_KEY).merged(Scope(device_ids=frozenset({"A"}))) == Scope(
        device_ids=frozenset({"A"}), version=ESME_KEY
    )
    assert Scope(version=ESME_KEY).merged(Scope(version=ESME_KEY)) == Scope(version=ESME_KEY)
    other = ("TOSHIBA", "E470", "0123ABCE")
    assert Scope(version=ESME_KEY).merged(Scope(version=other)) is None
    assert Scope(due_before=T1).merged(Scope(due_before=T1)) == Scope(due_before=T1)
    assert Scope(due_before=T1).merged(Scope(due_before=T2)) is None
    assert Scope(due_before=T1).merged(Scope()) == Scope(due_before=T1)
