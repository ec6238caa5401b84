"""A fleet shard in a process of its own: `smetslab fleet --shard I/M` started and
stopped from a lab (D-S1, D-S2). It runs the premises of its partition of the comms hubs
on its own client ID; at SIGTERM it finishes the message in hand and writes its final
state (`ShardState`: what every device runs, what its journal counted), which the lab
reads back: a fleet in other processes cannot be asked for its models.

    command = FleetCommand(url, fleet_file, topics, "lab-fleet-0", FleetShard(0, 2))
    shard = FleetProcess(command, workdir)
    await shard.start()
    ...
    await shard.stop()
    state = shard.state()
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from contract.topics import Topics
from emulators.shards import FleetShard, ShardState

from .errors import LabError
from .lab_process import LabProcess


@dataclass(frozen=True, slots=True)
class FleetCommand:
    """What `smetslab fleet` is started with."""

    url: str
    fleet_file: Path
    topics: Topics
    client_id: str
    shard: FleetShard = field(default_factory=FleetShard)
    mqtt_version: str = "auto"

    def argv(self, ready_file: Path, state_file: Path, journal: Path | None) -> list[str]:
        journal_args = () if journal is None else ("--journal", str(journal))
        return [
            *(sys.executable, "-m", "smetslab", "fleet", "--fleet", str(self.fleet_file)),
            *("--broker", self.url, "--topic-root", self.topics.root),
            *("--client-id", self.client_id, "--mqtt-version", self.mqtt_version),
            *("--shard", str(self.shard), "--ready-file", str(ready_file)),
            *("--state-file", str(state_file), *journal_args),
        ]


class FleetProcess(LabProcess):
    def __init__(self, command: FleetCommand, workdir: Path, journal: bool = False) -> None:
        self.command = command
        self.state_file = workdir / f"{command.client_id}.state.json"
        self.journal_file = workdir / f"{command.client_id}.jsonl" if journal else None
        super().__init__(
            f"fleet shard {command.shard}",
            command.client_id,
            lambda ready: command.argv(ready, self.state_file, self.journal_file),
            workdir,
        )

    async def start(self) -> None:
        self.state_file.unlink(missing_ok=True)
        await super().start()

    def state(self) -> ShardState:
        """The state the shard wrote as it stopped; `LabError` when it wrote none (it was
        killed, or has not stopped) or the file is not one."""
        try:
            return ShardState.model_validate_json(self.state_file.read_bytes())
        except OSError as exc:
            raise LabError(f"{self.role}: no final state at {self.state_file}: {exc}") from exc
        except ValidationError as exc:
            raise LabError(f"{self.role}: {self.state_file} is not a shard state: {exc}") from exc
