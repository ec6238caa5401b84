"""The DSP as the Access Control Broker (D-SEC7, D-SEC8): the two things it does with keys.

Every command it sends is MACed for the target device (`protect`), and a Critical SR's
signed pre-command is checked against the user's certificate before it is sent
(`check_user_signature`). The core sees only this protocol; `dsp_core.keys` gives the
implementation on a key store, and `CoreConfig.security` is None when security is off.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class CommandSecurity(Protocol):
    def missing_key(self, device_id: str) -> str | None:
        """Why no command can be MACed for the device (no key for it), or None."""
        ...

    def protect(self, command: bytes, device_id: str) -> bytes:
        """`command` (a General Signing APDU) in General Ciphering, MACed for the device."""
        ...

    def check_user_signature(self, signed: bytes, user_id: str, at: datetime) -> None:
        """Raise `GbcsSecurityError` naming the failure unless `signed` carries a
        signature that verifies with the user's digital-signing certificate (one that
        has expired is still used, with `at` as the message's time)."""
        ...
