"""The DSP's exception tree (its request errors are the contract's: `contract.errors`)."""

from __future__ import annotations

from contract.errors import SmetslabError


class DspError(SmetslabError):
    """Base of every error raised by dsp_core."""


class StoreError(DspError):
    """The store could not load or commit."""
