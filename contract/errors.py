"""The root of every exception smetslab raises, and the errors of the contract itself.

Each package keeps a small tree of its own under `SmetslabError` (`GbcsError`,
`BusError`, `DspError`, `EmulatorError`, `BridgeError`, `HilError`), so a caller that
wants "anything smetslab refused" catches the root, as the command line does.
"""

from __future__ import annotations


class SmetslabError(Exception):
    """Base of every error smetslab raises on purpose."""


class IllegalTransitionError(SmetslabError):
    """An event that a state machine's table does not allow in its current state.

    Raised by `contract.transitions.TransitionTable` for every state table of the
    project (the DSP's request tracking, the device models, the rig-link session, the
    ZigBee translation, the campaign, the scenario interpreter, the conformance
    sequence); names the role (whose machine), the state and the event.
    """

    def __init__(self, role: str, state: str, event: str) -> None:
        self.role = role
        self.state = state
        self.event = event
        super().__init__(f"{role}: event {event} is not allowed in state {state}")


class ContractError(SmetslabError, ValueError):
    """A message or a name that breaks the MQTT contract (DESIGN §3): the message says
    which field or which part, and where."""


class TopicError(ContractError):
    """A topic (or topic root) that is not part of the contract."""


class InvalidRequestError(ContractError):
    """A service request that cannot be read; the message names the field (S4, D9)."""


class InvalidIdError(InvalidRequestError):
    """An entity ID that is not an EUI-64 in either of the contract's two forms (in a
    request it is a field that cannot be read, hence a request error too)."""


class InvalidHubStatusError(ContractError):
    """A message on a hub's status topic that cannot be read; names the field."""


class InvalidCplChangeError(InvalidRequestError):
    """A CPL change (`{root}/dsp/cpl`, D11) that cannot be read; names the field."""


class MalformedMessageError(ContractError):
    """A response or alert from the DSP without the fields of DESIGN §3 (a service
    user records it as unexpected)."""
