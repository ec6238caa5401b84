"""GBCS security, sans-IO: what keys are for.

`KeyUse` names the use of a key pair in a `gbcs.keystore.KeyStore`; the signatures and
MACs made and checked with them come here next.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["KeyUse"]


class KeyUse(StrEnum):
    """What a key pair is for; the value is the suffix of its files in the RTDS layout."""

    DIGITAL_SIGNING = "ds"
    KEY_AGREEMENT = "ka"
    XML_SIGNING = "xmlsign"

    @property
    def long_name(self) -> str:
        """As errors and reasons name it: "digital-signing (ds)", "key-agreement (ka)"."""
        return _LONG_NAMES[self]


_LONG_NAMES = {
    KeyUse.DIGITAL_SIGNING: "digital-signing (ds)",
    KeyUse.KEY_AGREEMENT: "key-agreement (ka)",
    KeyUse.XML_SIGNING: "XML-signing (xmlsign)",
}
