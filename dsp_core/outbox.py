"""The transactional outbox (D-W2): what the DSP sends, committed with the decision.

The service turns an event's actions into `Outgoing` messages (topic and payload) and
records them in the same `State` as the SMI change that caused them, so the store
commits them in one transaction. They are published from the `outbox` table and
deleted once the broker has acknowledged them; a worker that dies in between leaves
them there for itself (when it starts again) or another worker (when their lease has
run out) to publish. Delivery to the broker is therefore at least once: every alert
carries an `alert_id` (this message's ID) and every response its `response_id`, so a
service user can tell a second copy from a second alert.

Sans-IO: the IDs come from the caller (`OutboxEncoder(next_id)`), no clock or bus here.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from contract.ids import to_compact
from contract.records import record

from .events import Action, SendAlert, SendCommand, SendResponse

OUTBOX_PAGE = 500  # rows claimed at once when recovering another worker's outbox


@record
class Outgoing:
    """One message to publish: `message_id` is unique (and is the alert's `alert_id`)."""

    message_id: str
    topic: str
    payload: bytes


@record
class OutboxTopics:
    """Where each kind of action goes (the bus's topic scheme, given as functions)."""

    responses: Callable[[str], str]
    alerts: Callable[[str], str]
    ch_down: Callable[[str], str]


class OutboxEncoder:
    """Actions to `Outgoing` messages; `next_id()` names each (unique across workers)."""

    def __init__(self, topics: OutboxTopics, next_id: Callable[[], str]) -> None:
        self.topics = topics
        self.next_id = next_id

    def encode(self, actions: list[Action]) -> list[Outgoing]:
        return [self.encode_one(action) for action in actions]

    def encode_one(self, action: Action) -> Outgoing:
        message_id = self.next_id()
        match action:
            case SendResponse(user_id=user, response=response):
                return self._json(
                    message_id, self.topics.responses(to_compact(user)), response.to_json()
                )
            case SendAlert(user_id=user, alert=alert):
                payload = {"alert_id": message_id, **alert.to_json()}
                return self._json(message_id, self.topics.alerts(to_compact(user)), payload)
            case SendCommand(ch_id=ch_id, data=data):
                return Outgoing(message_id, self.topics.ch_down(to_compact(ch_id)), data)

    @staticmethod
    def _json(message_id: str, topic: str, message: object) -> Outgoing:
        return Outgoing(message_id, topic, json.dumps(message).encode())
