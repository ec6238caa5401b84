"""Issue 18, "no message kills a worker": each value the bus can carry that once killed
`smetslab dsp` (and killed it again on every restart, never acknowledged) is refused at
the edge with a reason, sans-IO (docs/dsp.md, "Bad input and dead letters")."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import gbcs
from bus.clock import ClockSetting
from bus.errors import EnvelopeError
from contract.errors import InvalidHubStatusError, InvalidRequestError
from contract.ids import MAX_COUNTER, RequestId, to_compact
from contract.requests import parse_request, readable_request_id
from contract.topics import TopicKind, Topics
from dsp_core.events import DeviceMessageReceived, RequestReceived
from dsp_core.hubs import parse_hub_status
from tests.support.core_bench import ESME, NEW, SUPPLIER, CoreBench, codes, commands, responses

A = "00-DB-12-34-56-78-90-A0"
B = "00-DB-12-34-56-78-90-A1"
T0 = datetime(2030, 1, 1, 9, tzinfo=UTC)


def test_finding_1_a_superscript_counter_is_an_invalid_request_not_a_crash() -> None:
    """Finding 1: `str.isdigit` takes '²', `int` does not; it escaped the handler."""
    with pytest.raises(InvalidRequestError, match="not a decimal integer"):
        RequestId.parse(f"{A}:{B}:1²")
    with pytest.raises(InvalidRequestError, match="not a decimal integer"):
        RequestId.parse(f"{A}:{B}:١٢")  # Arabic-Indic digits: isdigit, not ASCII


def test_finding_2_a_counter_over_2_63_is_refused_with_its_reason() -> None:
    """Finding 2: a counter between 2^63 and 2^64-1 overflowed SQLite's INTEGER."""
    assert RequestId.parse(f"{A}:{B}:{MAX_COUNTER}").counter == MAX_COUNTER
    with pytest.raises(InvalidRequestError, match="over 2\\^63-1"):
        RequestId.parse(f"{A}:{B}:{MAX_COUNTER + 1}")
    with pytest.raises(InvalidRequestError):
        RequestId.parse(f"{A}:{B}:{'9' * 400}")


def test_finding_2_a_request_over_2_63_is_answered_s4() -> None:
    """Finding 2, through the core: answered S4 naming the counter."""
    lab = CoreBench()
    actions = lab.read(ESME, counter=MAX_COUNTER + 1)
    assert codes(actions) == ["S4"]
    assert "2^63-1" in responses(actions)[0].response.body["reason"]


def test_finding_2_a_device_message_counter_over_2_63_is_journalled_undecodable() -> None:
    """Finding 2: a GBCS header counter of 2^63..2^64-1 on ch/+/up."""
    lab = CoreBench()
    (command,) = commands(lab.read(ESME))
    data = lab.answer(command, lab.read_answer(command, NEW))
    message = gbcs.decode(data)
    header = message.header
    big = replace(header, originator_counter=MAX_COUNTER + 1)
    poisoned = gbcs.encode(gbcs.GbcsMessage(big, message.payload, b""))
    prepared = lab.core.prepare(DeviceMessageReceived(header.originator_id.hex(), poisoned, T0))
    assert prepared.message is None  # type: ignore[union-attr]
    assert "over 2^63-1" in str(prepared.error)  # type: ignore[union-attr]


def test_finding_3_json_nested_thousands_deep_is_an_invalid_request() -> None:
    """Finding 3: RecursionError escaped the request parser."""
    deep = b'{"request_id":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(InvalidRequestError):
        parse_request(deep)
    assert readable_request_id(deep) is None
    assert codes(CoreBench().run(_request_event(deep))) == ["S4"]


def _request_event(payload: bytes) -> RequestReceived:
    return RequestReceived(to_compact(SUPPLIER.user_id), payload, T0)


@pytest.mark.parametrize(
    "execution", ["9999-12-31T23:59:59-01:00", "9999-12-31T23:58:00Z", "3001-01-01T00:00:00Z"]
)
def test_finding_4_an_execution_time_without_room_for_the_grace_is_s4(execution: str) -> None:
    """Finding 4: the offset overflowed in UTC, and a time near 9999 overflowed when the
    DSP added its grace period after the device accepted."""
    lab = CoreBench()
    actions = lab.activate(ESME, NEW, execution=execution)
    assert codes(actions) == ["S4"]
    assert "execution_datetime" in responses(actions)[0].response.body["reason"]


def test_finding_4_the_duis_cancellation_value_is_still_taken() -> None:
    """Finding 4: the bound stops at DUIS's cancellation value, 3000-12-31 (R7)."""
    assert codes(CoreBench().activate(ESME, NEW, execution="3000-12-31T00:00:00Z")) != ["S4"]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"epoch": "2031-01-01T00:00:00Z", "wall_epoch": 1700000000, "scale": 1e300}',
        b'{"epoch": "9999-12-31T00:00:00Z", "wall_epoch": 1700000000, "scale": 1}',
        b'{"epoch": "2031-01-01T00:00:00Z", "wall_epoch": 1e300, "scale": 1}',
        b'{"epoch": "0001-01-01T00:00:00+01:00", "wall_epoch": 1700000000, "scale": 1}',
        b"[" * 100_000,
    ],
)
def test_finding_5_a_clock_that_overflows_is_an_envelope_error(payload: bytes) -> None:
    """Finding 5: a retained clock whose time or scale overflows stopped the DSP and the
    fleet from starting."""
    with pytest.raises(EnvelopeError, match="clock message"):
        ClockSetting.from_json(payload, wall=1700000000.0)


def test_finding_5_a_hub_status_from_year_9999_is_refused() -> None:
    """Issue 18: a hub status with `at` in 9999 marked the hub offline for good."""
    payload = b'{"online": false, "at": "9999-12-31T23:59:59Z"}'
    with pytest.raises(InvalidHubStatusError, match="ahead of the clocks"):
        parse_hub_status("00DB1234567890A2", payload, T0, T0)
    later = (T0 + timedelta(minutes=4)).isoformat().encode()
    ok = parse_hub_status("00DB1234567890A2", b'{"online": false, "at": "' + later + b'"}', T0)
    assert ok.online is False


def test_a_user_id_in_lower_case_on_the_topic_is_the_same_user() -> None:
    """Issue 18: a request on dsp/requests/<user ID in lower case> went unanswered."""
    route = Topics("smetslab/v1").parse("smetslab/v1/dsp/requests/90b3d51f30010000")
    assert (route.kind, route.entity) == (TopicKind.REQUEST, "90B3D51F30010000")


def test_a_counter_jump_past_the_window_is_s9_and_burns_nothing() -> None:
    """Issue 18: a counter of 2^63-1 burnt the supplier's counter for ever (every later
    request S3); past `CoreConfig.counter_window` it is refused S9 and not taken."""
    lab = CoreBench()
    assert codes(lab.read(ESME)) == ["I99"]
    actions = lab.read(ESME, counter=MAX_COUNTER)
    assert codes(actions) == ["S9"]
    assert "jumps more than" in responses(actions)[0].response.body["reason"]
    assert codes(lab.read(ESME)) == ["I99"]


def test_a_first_counter_past_the_window_is_s9_too() -> None:
    """Issue 18: a user's first request with counter 2^63-1 would burn its counter as
    well; the window counts from 0 for the first request (D-P6)."""
    lab = CoreBench()
    assert codes(lab.read(ESME, counter=MAX_COUNTER)) == ["S9"]
    assert codes(lab.read(ESME, counter=1_800_000_000_000)) == ["I99"]  # wall-clock ms
