"""Contract version 1 topics (DESIGN §3): built and parsed in one place."""

from __future__ import annotations

import pytest

from contract.errors import TopicError
from contract.topics import Route, TopicKind, Topics, shared

USER = "90B3D51F30010000"
HUB = "00DB1234567890A0"


@pytest.mark.parametrize(
    ("build", "kind", "entity"),
    [
        (lambda t: t.request(USER), TopicKind.REQUEST, USER),
        (lambda t: t.responses(USER), TopicKind.RESPONSES, USER),
        (lambda t: t.alerts(USER), TopicKind.ALERTS, USER),
        (lambda t: t.ch_down(HUB), TopicKind.CH_DOWN, HUB),
        (lambda t: t.ch_up(HUB), TopicKind.CH_UP, HUB),
        (lambda t: t.ch_status(HUB), TopicKind.CH_STATUS, HUB),
        (lambda t: t.ch_power(HUB), TopicKind.CH_POWER, HUB),
        (lambda t: t.clock, TopicKind.CLOCK, None),
        (lambda t: t.cpl, TopicKind.CPL, None),
        (lambda t: t.cpl_results, TopicKind.CPL_RESULTS, None),
    ],
)
@pytest.mark.parametrize("root", ["smetslab", "lab/7"])
def test_every_topic_parses_back_to_its_route(build, kind, entity, root) -> None:  # type: ignore[no-untyped-def]
    topics = Topics(root)
    topic = build(topics)
    assert topic.startswith(root + "/")
    assert topics.parse(topic) == Route(kind, entity)


def test_the_contract_examples() -> None:
    topics = Topics()
    assert topics.ch_up(HUB) == "smetslab/ch/00DB1234567890A0/up"
    assert topics.request(USER) == "smetslab/dsp/requests/90B3D51F30010000"
    assert topics.all_ch_up == "smetslab/ch/+/up"
    assert shared(topics.all_requests, "dsp") == "$share/dsp/smetslab/dsp/requests/+"


@pytest.mark.parametrize(
    ("topic", "says"),
    [
        ("other/ch/00DB1234567890A0/up", "not under the root"),
        ("smetslab/ch/00DB1234567890A0/sideways", "not part of the smetslab contract"),
        ("smetslab/ch/00-DB-12-34-56-78-90-A0/up", "not an EUI-64"),
        ("smetslab/ch/00db1234567890a0/up", "not an EUI-64"),
        ("smetslab/users/90B3D51F30010000", "not part of"),
    ],
)
def test_a_topic_outside_the_contract_is_named_in_the_error(topic: str, says: str) -> None:
    with pytest.raises(TopicError, match=says) as raised:
        Topics().parse(topic)
    assert topic in str(raised.value) or "EUI-64" in str(raised.value)


@pytest.mark.parametrize("root", ["", "a/+", "#", "a//b", "$SYS"])
def test_a_root_with_wildcards_or_empty_levels_is_refused(root: str) -> None:
    with pytest.raises(TopicError, match="topic root"):
        Topics(root)


def test_builders_refuse_ids_in_payload_form() -> None:
    with pytest.raises(TopicError, match="comms hub ID"):
        Topics().ch_down("00-DB-12-34-56-78-90-A0")
