"""Fleet shards: a fleet run by M processes, each owning the premises of a partition of
the comms hubs (docs/scale-out.md, D-S1).

A hub belongs to shard `blake2b(hub ID) mod M`: a stable function of the hub ID alone,
the same in every process and on every host, so a shard knows whether a command on
`{root}/ch/{ch_id}/down` is its own without knowing the fleet, and a hub no fleet has is
still owned by exactly one shard (which journals it as unroutable, E5). Every shard
builds the whole fleet from the same file (`build_fleet` is deterministic from its seed)
and keeps its own premises.

A shard's final state (`ShardState`, pydantic: it is a file another process reads) is
what its devices run and what its journal counted, written when it stops.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError
from .fleet import FleetModel
from .journal import FleetJournal

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(ch_id: bytes, count: int) -> int:
    """The shard (0 to count - 1) that owns the comms hub `ch_id`."""
    digest = hashlib.blake2b(ch_id, digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True, slots=True)
class FleetShard:
    """Partition `index` of `count` (written `I/M`, I from 0)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"shard {self}: the number of shards must be at least 1")
        if not 0 <= self.index < self.count:
            raise ConfigError(f"shard {self}: the index must be 0 to {self.count - 1}")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> FleetShard:
        """`I/M`, e.g. `0/2` and `1/2`; anything else raises ConfigError naming it."""
        found = _SHARD.match(text)
        if found is None:
            raise ConfigError(f"shard {text!r}: write it I/M, e.g. 0/2 (I from 0 to M - 1)")
        return cls(int(found[1]), int(found[2]))

    def owns(self, ch_id: bytes) -> bool:
        return self.count == 1 or shard_of(ch_id, self.count) == self.index

    def keep(self, fleet: FleetModel) -> FleetModel:
        """`fleet` with only this shard's premises (same scheduler and fault injector).
        Call it before the fleet runs: premises schedule nothing until they get a command."""
        if len(fleet.scheduler):
            raise ConfigError(f"shard {self}: the fleet has already run; shard it before")
        kept = FleetModel(fleet.faults, fleet.scheduler)
        for ch_id, premises in fleet.premises.items():
            if self.owns(ch_id):
                kept.add(premises)
        return kept


class FaultCount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fault: str
    message_code: int | None
    count: int


class ShardState(BaseModel):
    """What one fleet process ran, as it stopped: its shard, its premises, the firmware
    version every device runs (hex) and its journal's counts (R11)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shard: str
    premises: int = Field(ge=0)
    versions: dict[str, str]  # device ID (16 hex) -> running version (8 hex)
    events: dict[str, int]
    faults: list[FaultCount]

    @classmethod
    def of(cls, shard: FleetShard, fleet: FleetModel, journal: FleetJournal) -> ShardState:
        return cls(
            shard=str(shard),
            premises=len(fleet.premises),
            versions={
                d.device_id.hex().upper(): d.running_version.hex().upper() for d in fleet.devices()
            },
            events=dict(journal.events),
            faults=[
                FaultCount(fault=str(fault), message_code=code, count=n)
                for (fault, code), n in journal.faults.items()
            ],
        )

    def faults_fired(self, fault: str, message_code: int | None = None) -> int:
        return sum(
            found.count
            for found in self.faults
            if found.fault == fault and (message_code is None or found.message_code == message_code)
        )
