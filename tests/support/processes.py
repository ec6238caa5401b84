"""The project's command line in a process of its own, as a test starts it.

async with smetslab("dsp", "--fleet", str(RIG), "--broker", url) as dsp:
    ...                          # SIGTERM at the end; it must exit 0
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.paths import ROOT

STOPPED = 128 + signal.SIGTERM  # what a smetslab command ended by SIGTERM exits with


@asynccontextmanager
async def smetslab(
    *args: str, exit_code: int = STOPPED
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`smetslab ARGS` in its own process; SIGTERM at the end, and it must exit with
    `exit_code` (143, 128 + SIGTERM, for one stopped by it; -9 for one the test kills)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smetslab", *args, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            code = await process.wait()
        assert code == exit_code, f"smetslab {args[:2]} exited {code}"


async def exited(process: asyncio.subprocess.Process) -> None:
    """Until a process the test stopped has exited (`smetslab` checks its code): one still
    shutting down when `smetslab` sends its own SIGTERM may have no handler left for it
    and die of it (-15)."""
    async with asyncio.timeout(15):
        await process.wait()
