"""R7: an SR 11.3 execution time that GBCS cannot carry as it is (a fraction of a second)
is refused with S4 naming the field; one with a UTC offset is the same instant in UTC.
Both used to escape the core as a GbcsEncodeError while it built the CS06."""

from __future__ import annotations

from datetime import UTC, datetime

import gbcs
from tests.support.core_bench import ESME, NEW, CoreBench, codes, commands, responses


def test_r7_fractional_seconds_are_refused_with_s4_naming_the_field() -> None:
    lab = CoreBench()
    actions = lab.activate(ESME, NEW, execution="2030-01-01T10:00:00.5Z")
    (refusal,) = responses(actions)
    assert codes(actions) == ["S4"]
    assert "execution_datetime" in refusal.response.body["reason"]


def test_r7_an_offset_is_sent_as_the_same_instant_in_utc() -> None:
    lab = CoreBench()
    actions = lab.activate(ESME, NEW, execution="2030-01-01T11:00:00+01:00")
    assert codes(actions) == ["I99"]
    (command,) = commands(actions)
    payload = gbcs.decode(command.data).payload
    assert isinstance(payload, gbcs.ActivateFirmwareCommand)
    assert payload.execution_datetime == datetime(2030, 1, 1, 10, tzinfo=UTC)
