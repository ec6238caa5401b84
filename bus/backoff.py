"""Reconnection back-off: exponential, capped, with jitter (sans-IO; the RNG is given)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.1
    cap: float = 10.0
    factor: float = 2.0
    jitter: float = 0.5  # each delay is drawn from [d * (1 - jitter), d]

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.cap and self.factor >= 1 and 0 <= self.jitter <= 1):
            raise ValueError(f"back-off {self} needs 0 < initial <= cap, factor >= 1, jitter 0-1")

    def delays(self, rng: random.Random) -> Iterator[float]:
        """Seconds to wait before each successive attempt, for ever."""
        delay = self.initial
        while True:
            yield rng.uniform(delay * (1 - self.jitter), delay)
            delay = min(self.cap, delay * self.factor)
