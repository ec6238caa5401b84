"""Issue 18, "no message kills a worker": generated payloads on the request topic and on
`ch/+/up` never raise out of the DSP core; afterwards a normal 11.2 is still answered,
and the SMI is unchanged (only journal rows are added)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.ids import to_compact
from dsp_core.events import DeviceMessageReceived, RequestReceived
from tests.support.core_bench import ESME, HUB, SUPPLIER, CoreBench, codes

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 70), max_value=1 << 70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
COUNTERS = st.one_of(
    st.integers(min_value=-5, max_value=(1 << 64) + 5).map(str),
    st.text(alphabet="0123456789\u00b2\u00b3\u0661\u0662 -+_x", min_size=0, max_size=25),
)
EXECUTION = st.sampled_from(
    [
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:58:00Z",
        "0001-01-01T00:00:00+01:00",
        "2030-01-01T10:00:00Z",
        "3000-12-31T00:00:00Z",
        "not a date",
    ]
)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return json.dumps(draw(JSON)).encode()
    target = ESME.device_id
    body: dict[str, Any] = {"firmware_hash": "AB" * 32, "execution_datetime": draw(EXECUTION)}
    message = {
        "request_id": f"{SUPPLIER.user_id}:{target}:{draw(COUNTERS)}",
        "service_reference_variant": draw(st.sampled_from(["11.2", "11.3", "8.2", "99"])),
        "command_variant": draw(st.sampled_from([1, 4, 5, 8, -1])),
        "body": draw(st.sampled_from([{}, body, {"device_ids": [target]}])),
    }
    return json.dumps(message).encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), requests()), min_size=1, max_size=6))
def test_generated_payloads_never_escape_the_core(messages: list[tuple[bool, bytes]]) -> None:
    """Issue 18: findings 1 to 4 as generated input; the DSP answers an 11.2 after them."""
    lab = CoreBench()
    before = dict(lab.state.devices)
    user = to_compact(SUPPLIER.user_id)
    for on_request_topic, payload in messages:
        if on_request_topic:
            lab.run(RequestReceived(user, payload, lab.now))
        else:
            lab.run(DeviceMessageReceived(to_compact(HUB), payload, lab.now))
    assert lab.state.devices == before
    lab.counter = lab.state.counters.get(SUPPLIER.user_id, lab.counter)
    assert codes(lab.read(ESME)) == ["I99"]
