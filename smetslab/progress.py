"""Progress on a terminal (rich): the phase, devices done of all, the rate and what is
left, for `campaign`, `demo`, `hil run` and `lab up`'s start. Nothing with `--json` or
when standard error is not a terminal (CI logs, pipes)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from hil.campaign.model import CampaignModel


def wanted(as_json: bool = False) -> bool:
    """Whether to draw: a person is watching standard error, and no JSON is asked for."""
    return not as_json and sys.stderr.isatty()


class ProgressView:
    """One bar; `update` moves it. Disabled, every call does nothing."""

    def __init__(
        self,
        enabled: bool,
        description: str,
        total: int | None = None,
        console: Console | None = None,
    ) -> None:
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),  # the command's, so logs print above
            transient=True,
            disable=not enabled,
        )
        self._task: TaskID = self._progress.add_task(description, total=total, rate="")

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, done: int, total: int, description: str | None = None) -> None:
        speed = self._progress.tasks[0].speed
        rate = "" if speed is None else f"{speed:.1f}/s"
        self._progress.update(
            self._task, completed=done, total=total, description=description, rate=rate
        )

    def close(self) -> None:
        """Take the bar away now (what follows is not progress)."""
        self._progress.stop()

    def campaign(self, model: CampaignModel) -> None:
        """`CampaignRunner`'s progress hook: the phase, devices settled of all."""
        progress = model.progress()
        self.update(progress.settled, progress.devices, f"campaign: {progress.phase}")
