"""What a DSP store's journal holds, read back by the tests."""

from __future__ import annotations

from dsp_core.model import JournalKind
from dsp_core.store import MemoryStore


def device_messages(store: MemoryStore) -> list[bytes]:
    """The GBCS bytes of every device message the DSP journalled, in order."""
    return [
        bytes.fromhex(entry.detail["gbcs_hex"])
        for entry in store.entries
        if entry.kind is JournalKind.DEVICE_MESSAGE
    ]
