"""A DSP worker in a process of its own: `smetslab dsp` started and stopped from a lab.

In one process the DSP, the fleet and the campaign share one core; a large campaign is
then bound by that core. As its own process the DSP gets the other (D18). It works on
the store the lab seeded (a SQLite file or PostgreSQL), takes the shared clock from the
retained `{root}/clock`, and writes a ready file once it is connected and subscribed, so
that nothing the lab publishes after `start` can miss it.

    worker = DspProcess(DspCommand(url, store_url, topics, client_id), workdir)
    await worker.start()
    ...
    await worker.stop()        # SIGTERM: finishes the batch in hand, then disconnects
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from contract.topics import Topics
from dsp_core.service import ServiceLimits
from dsp_core.turn import CoreConfig

from .lab_process import LabProcess


@dataclass(frozen=True, slots=True)
class DspCommand:
    """What `smetslab dsp` is started with."""

    url: str
    store_url: str
    topics: Topics
    client_id: str
    core: CoreConfig = field(default_factory=CoreConfig)
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    mqtt_version: str = "auto"
    requests: bool = True  # off: a worker taking device messages only (D-W3)

    def argv(self, ready_file: Path) -> list[str]:
        core = self.core
        return [
            *(sys.executable, "-m", "smetslab", "dsp"),
            *("--broker", self.url, "--store", self.store_url),
            *("--topic-root", self.topics.root, "--client-id", self.client_id),
            *("--mqtt-version", self.mqtt_version, "--mp105", "on" if core.mp105 else "off"),
            *("--response-timeout", _seconds(core.response_timeout.total_seconds())),
            *("--gsme-response-timeout", _seconds(core.gsme_response_timeout.total_seconds())),
            *("--batch", str(self.limits.batch), "--ready-file", str(ready_file)),
            *("--requests", "on" if self.requests else "off"),
        ]


class DspProcess(LabProcess):
    """`smetslab dsp` as a process of a lab: started, ready, stopped and killed as every
    lab process is (`LabProcess`)."""

    def __init__(self, command: DspCommand, workdir: Path) -> None:
        self.command = command
        super().__init__("DSP worker", command.client_id, command.argv, workdir)


def _seconds(value: float) -> str:
    return f"{value:g}"
