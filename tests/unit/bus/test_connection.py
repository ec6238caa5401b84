"""bus.connection: every attempt paced, the MQTT version decided once per broker and
again when it comes back, one log line per change of state (issue: operations)."""

from __future__ import annotations

import logging
import random
from itertools import islice

import pytest

from bus.backoff import Backoff
from bus.connection import V5, V311, ConnectPlan, Failure

WHERE = "mqtt://127.0.0.1:1"


def plan(wanted: str = "auto") -> ConnectPlan:
    return ConnectPlan(wanted, Backoff(initial=0.1, cap=2.0), random.Random(7))


def attempts(plan: ConnectPlan, failure: Failure, count: int) -> list[tuple[str, float]]:
    seen = []
    for _ in range(count):
        attempt = plan.next_attempt()
        seen.append((attempt.version, attempt.delay))
        plan.failed(failure, "nothing", WHERE)
    return seen


@pytest.mark.parametrize("failure", list(Failure))
def test_every_attempt_but_the_first_waits_whatever_failed(failure: Failure) -> None:
    delays = [delay for _, delay in attempts(plan(), failure, 12)]
    assert delays[0] == 0.0
    assert all(delay > 0 for delay in delays[1:])
    assert max(delays) <= 2.0  # capped
    assert sum(delays) > 5.0  # not thousands a second


def test_a_closed_port_never_makes_the_link_fall_back() -> None:
    versions = {version for version, _ in attempts(plan(), Failure.UNREACHABLE, 6)}
    assert versions == {V5}


@pytest.mark.parametrize("failure", [Failure.PROTOCOL_REFUSED, Failure.NO_CONNACK])
def test_a_broker_that_does_not_take_mqtt_5_is_spoken_to_in_3_1_1(failure: Failure) -> None:
    link = plan()
    assert link.next_attempt().version == V5
    said = link.failed(failure, "unsupported protocol version", WHERE)
    assert [s.level for s in said] == [logging.INFO]
    assert "using 3.1.1" in said[0].text
    second = link.next_attempt()
    assert (second.version, second.delay > 0) == (V311, True)
    link.connected(WHERE)
    assert link.version == V311


def test_once_the_broker_has_gone_mqtt_5_is_tried_first_again() -> None:
    link = plan()
    link.next_attempt()
    link.failed(Failure.NO_CONNACK, "timed out", WHERE)
    link.next_attempt()
    link.connected(WHERE)
    link.failed(Failure.LOST, "broker restarted", WHERE)
    assert link.next_attempt().version == V5


def test_a_version_asked_for_is_kept_whatever_the_broker_says() -> None:
    for wanted in (V5, V311):
        versions = {v for v, _ in attempts(plan(wanted), Failure.PROTOCOL_REFUSED, 4)}
        assert versions == {wanted}


def test_the_same_failure_is_said_once_a_new_state_again() -> None:
    link = plan()
    levels = []
    for failure in [Failure.UNREACHABLE] * 5 + [Failure.REFUSED] * 2:
        link.next_attempt()
        levels += [s.level for s in link.failed(failure, "x", WHERE)]
    assert levels == [logging.WARNING] + [logging.DEBUG] * 4 + [logging.WARNING, logging.DEBUG]
    assert link.connected(WHERE).level == logging.INFO
    assert [s.level for s in link.failed(Failure.LOST, "gone", WHERE)] == [logging.WARNING]
    assert link.connected(WHERE).level == logging.INFO


def test_after_a_connection_the_back_off_starts_small_again() -> None:
    link = plan()
    slow = [d for _, d in islice(attempts(link, Failure.UNREACHABLE, 8), 8)]
    link.connected(WHERE)
    link.failed(Failure.LOST, "gone", WHERE)
    assert link.next_attempt().delay <= 0.1 < max(slow)


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"use auto, 5 or 3\.1\.1"):
        plan("4")
