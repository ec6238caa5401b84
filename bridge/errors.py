"""The exception tree of `bridge`."""

from __future__ import annotations

from contract.errors import SmetslabError


class BridgeError(SmetslabError):
    """Base class of every error `bridge` raises."""


class RigLinkError(BridgeError):
    """The serial rig link (docs/rig-link.md) was used against its rules."""


class FramingError(RigLinkError, ValueError):
    """A frame that cannot be encoded: a payload over the maximum frame size, a sequence
    number out of range. Bad frames *received* are events (`framing.BadFrame`), never
    raised: garbage on a line is normal."""


class PayloadError(RigLinkError, ValueError):
    """A frame payload that does not have the layout of its frame type; names the type."""


class ReassemblyError(RigLinkError, ValueError):
    """GBCS fragments that do not make one message (another device mid-message, too
    large); the partial message is dropped."""


class ZigbeeError(BridgeError):
    """The ZigBee bridge (docs/zigbee-bridge.md) could not do what it was asked."""


class DeviceMapError(ZigbeeError, ValueError):
    """A device map (which ZigBee device is which smart-metering device) that cannot be
    used; names the file and the entry."""


class RadioUnavailableError(ZigbeeError):
    """The radio could not be opened or started, or went away; the bridge tries again."""


class ZigbeeOperationError(ZigbeeError):
    """A ZigBee exchange with a device failed while the radio was up (no answer, refused):
    names the device and the operation."""
