"""The MQTT topics of contract version 1 (DESIGN §3), built and parsed in one place.

IDs in topics are EUI-64s in 16 upper-case hex digits without separators; IDs in
payloads use the DUIS form. `Topics.parse` is the inverse of the builders and names the
topic it cannot place.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from enum import StrEnum

from .errors import TopicError
from .ids import check_eui64

_ROOT = re.compile(r"[^#+$/\x00]+(/[^#+$/\x00]+)*")


class TopicKind(StrEnum):
    REQUEST = "request"  # {root}/dsp/requests/{user_id}
    RESPONSES = "responses"  # {root}/users/{user_id}/responses
    ALERTS = "alerts"  # {root}/users/{user_id}/alerts
    CH_DOWN = "ch_down"  # {root}/ch/{ch_id}/down
    CH_UP = "ch_up"  # {root}/ch/{ch_id}/up
    CLOCK = "clock"  # {root}/clock
    CPL = "cpl"  # {root}/dsp/cpl (D11)
    CPL_RESULTS = "cpl_results"  # {root}/dsp/cpl/results (D11)
    CH_STATUS = "ch_status"  # {root}/ch/{ch_id}/status (docs/rig-link.md §6)
    CH_POWER = "ch_power"  # {root}/ch/{ch_id}/power (docs/rig-link.md §6)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a topic points: its kind and, for per-user and per-hub topics, the ID."""

    kind: TopicKind
    entity: str | None = None


_PATTERNS: tuple[tuple[tuple[str, ...], TopicKind], ...] = (
    (("dsp", "requests", "*"), TopicKind.REQUEST),
    (("users", "*", "responses"), TopicKind.RESPONSES),
    (("users", "*", "alerts"), TopicKind.ALERTS),
    (("ch", "*", "down"), TopicKind.CH_DOWN),
    (("ch", "*", "up"), TopicKind.CH_UP),
    (("ch", "*", "status"), TopicKind.CH_STATUS),
    (("ch", "*", "power"), TopicKind.CH_POWER),
    (("clock",), TopicKind.CLOCK),
    (("dsp", "cpl"), TopicKind.CPL),
    (("dsp", "cpl", "results"), TopicKind.CPL_RESULTS),
)


class Topics:
    """Topic names under one root (`--topic-root`, default `smetslab`)."""

    __slots__ = ("_depth", "root")

    def __init__(self, root: str = "smetslab") -> None:
        if not _ROOT.fullmatch(root):
            raise TopicError(f"topic root {root!r} must be non-empty levels without + # $")
        self.root = root
        self._depth = root.count("/") + 1

    def request(self, user_id: str) -> str:
        return f"{self.root}/dsp/requests/{check_eui64(user_id, 'user ID')}"

    def responses(self, user_id: str) -> str:
        return f"{self.root}/users/{check_eui64(user_id, 'user ID')}/responses"

    def alerts(self, user_id: str) -> str:
        return f"{self.root}/users/{check_eui64(user_id, 'user ID')}/alerts"

    def ch_down(self, ch_id: str) -> str:
        return f"{self.root}/ch/{check_eui64(ch_id, 'comms hub ID')}/down"

    def ch_up(self, ch_id: str) -> str:
        return f"{self.root}/ch/{check_eui64(ch_id, 'comms hub ID')}/up"

    def ch_status(self, ch_id: str) -> str:
        """A bridged hub's link and rig state, retained (an addition to contract v1)."""
        return f"{self.root}/ch/{check_eui64(ch_id, 'comms hub ID')}/status"

    def ch_power(self, ch_id: str) -> str:
        """Power control of a bridged rig's devices (an addition to contract v1)."""
        return f"{self.root}/ch/{check_eui64(ch_id, 'comms hub ID')}/power"

    @property
    def clock(self) -> str:
        return f"{self.root}/clock"

    @property
    def cpl(self) -> str:
        return f"{self.root}/dsp/cpl"

    @property
    def cpl_results(self) -> str:
        return f"{self.root}/dsp/cpl/results"

    @property
    def all_requests(self) -> str:
        return f"{self.root}/dsp/requests/+"

    @property
    def all_ch_up(self) -> str:
        return f"{self.root}/ch/+/up"

    @property
    def all_ch_status(self) -> str:
        return f"{self.root}/ch/+/status"

    @property
    def all_ch_down(self) -> str:
        return f"{self.root}/ch/+/down"

    def parse(self, topic: str) -> Route:
        """The route of a topic under this root; `TopicError` names one that has none."""
        levels = topic.split("/")
        if "/".join(levels[: self._depth]) != self.root:
            raise TopicError(f"topic {topic!r} is not under the root {self.root!r}")
        rest = tuple(levels[self._depth :])
        for pattern, kind in _PATTERNS:
            matched, entity = _match(pattern, rest)
            if matched:
                if entity is not None and kind is TopicKind.REQUEST and _hex16(entity):
                    # DUIS IDs are hex: a user's ID in lower case is the same user (issue 18)
                    entity = entity.upper()
                return Route(kind, None if entity is None else check_eui64(entity, "ID in topic"))
        raise TopicError(f"topic {topic!r} is not part of the smetslab contract version 1")


def shared(topic_filter: str, group: str) -> str:
    """A shared subscription (MQTT 5): the broker gives each message to one member."""
    return f"$share/{group}/{topic_filter}"


def _hex16(text: str) -> bool:
    """16 ASCII hex digits, in either case."""
    return len(text) == 16 and text.isascii() and all(c in string.hexdigits for c in text)


def _match(pattern: tuple[str, ...], levels: tuple[str, ...]) -> tuple[bool, str | None]:
    """Whether `levels` fit `pattern`, and the level in its `*` place if it has one."""
    if len(pattern) != len(levels):
        return False, None
    entity: str | None = None
    for want, level in zip(pattern, levels, strict=True):
        if want == "*":
            entity = level
        elif want != level:
            return False, None
    return True, entity
