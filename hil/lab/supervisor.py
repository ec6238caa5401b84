"""A lab process that dies unasked is started again under its own name (D-S6).

A DSP worker keeps nothing of its own but its MQTT session and its outbox rows, both
keyed by its client ID: the broker goes on routing its share of the device messages
(and, for the request worker, every service request, D-W3) to that session while it is
away. Started again under the same ID it finds them and takes up where it died; the other
workers cannot. So the lab restarts it at once, then with a growing delay, and gives up
when it has died `burst` times within `window` seconds: a worker that cannot stay up
(a store that refuses it, a broken install) ends the lab with an error that names it and
quotes its log, as systemd's start limit would.

A fleet shard is not restarted (`NO_RESTART`): its devices' state (the firmware each
runs, its pending activations) lives in its memory, and a shard started again would bring
back every device on its first firmware, which no premises does. Its death ends the lab.

    budget = RestartBudget(RestartPolicy())
    match budget.on_exit(now):        # sans-IO: the caller reads the clock
        case Restart(delay): ...
        case GiveUp(reason): ...

    await supervise(worker, RestartPolicy())   # until the worker is stopped by its owner
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from hil.errors import LabError

from .processes import LabProcess

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    burst: int = 5  # restarts allowed within `window`; 0: never restarted
    window: float = 60.0  # seconds
    delays: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 5.0)  # by restarts within the window
    why_not: str = ""  # said when `burst` is 0: why this process is not restarted

    def __post_init__(self) -> None:
        if self.burst < 0 or self.window <= 0 or not self.delays:
            raise ValueError(f"restart policy: burst >= 0, window > 0 and delays, not {self}")


NO_RESTART = RestartPolicy(
    burst=0,
    why_not="a fleet shard is not restarted: its devices' state was in it (D-S6)",
)


@dataclass(frozen=True, slots=True)
class Restart:
    delay: float  # seconds to wait before starting it again
    count: int  # restarts within the window, this one included


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


class RestartBudget:
    """How many restarts are left: each exit is a restart after a delay, until `burst`
    of them fall within `window` seconds."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._restarts: deque[float] = deque()

    def on_exit(self, now: float) -> Restart | GiveUp:
        policy = self.policy
        if policy.burst == 0:
            return GiveUp(policy.why_not or "it is not restarted")
        while self._restarts and now - self._restarts[0] >= policy.window:
            self._restarts.popleft()
        if len(self._restarts) >= policy.burst:
            return GiveUp(f"restarted {policy.burst} times within {policy.window:g} s")
        delay = policy.delays[min(len(self._restarts), len(policy.delays) - 1)]
        self._restarts.append(now)
        return Restart(delay, len(self._restarts))


async def supervise(part: LabProcess, policy: RestartPolicy) -> None:
    """Watch `part` (started) until cancelled: start it again each time it exits unasked,
    as `policy` allows (`LabError` naming it when it gives up); after its owner stops or
    kills it, wait for the owner to start it again."""
    budget = RestartBudget(policy)
    loop = asyncio.get_running_loop()
    while True:
        generation = part.generation
        code = await part.wait()
        if part.generation != generation:  # its owner started it again meanwhile
            continue
        if part.asked_to_end:
            await part.next_life(generation)
            continue
        decision = budget.on_exit(loop.time())
        if isinstance(decision, GiveUp):
            raise LabError(part.failure(f"exited with code {code}; {decision.reason}"))
        await _restart(part, code, decision)


async def _restart(part: LabProcess, code: int, decision: Restart) -> None:
    log.warning(
        "%s %s: exited with code %d unasked; starting it again in %.1f s (restart %d)",
        *(part.role, part.name, code, decision.delay, decision.count),
    )
    await asyncio.sleep(decision.delay)
    try:
        await part.start()
    except LabError as exc:  # it died again before it was ready: the next exit counts
        log.warning("%s %s: %s", part.role, part.name, exc)
        return
    part.restarts += 1
