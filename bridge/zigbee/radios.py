"""The radios the ZigBee bridge runs on (docs/zigbee-bridge.md §5): bellows for Silicon
Labs EZSP sticks, zigpy-znp for Texas Instruments Z-Stack ones, and the radio-less
application for tests. Each is a zigpy `ControllerApplication` subclass built from a
zigpy configuration that its own schema validates.

Neither bellows 1.2 nor zigpy-znp 1.1 advertises itself on zigpy's `zigpy.radio` entry
point group, so the classes are named here.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import voluptuous as vol
import zigpy.application
import zigpy.config as zigpy_conf

from bridge.errors import RadioUnavailableError, ZigbeeError

log = logging.getLogger(__name__)
ControllerApplication = zigpy.application.ControllerApplication
# a started application (connected, network up); the bridge calls it again after a fault
AppFactory = Callable[[], Awaitable[ControllerApplication]]


class RadioKind(StrEnum):
    EZSP = "ezsp"  # Silicon Labs EmberZNet (bellows)
    ZNP = "znp"  # Texas Instruments Z-Stack (zigpy-znp)
    EMULATED = "emulated"  # no radio: emulated devices (bridge.simulators.zigbee_radio)


_APPLICATIONS = {
    RadioKind.EZSP: "bellows.zigbee.application",
    RadioKind.ZNP: "zigpy_znp.zigbee.application",
    RadioKind.EMULATED: "bridge.simulators.zigbee_radio",
}
_CLASS_NAMES = {
    RadioKind.EZSP: "ControllerApplication",
    RadioKind.ZNP: "ControllerApplication",
    RadioKind.EMULATED: "EmulatedApplication",
}


def application_class(radio: RadioKind) -> type[ControllerApplication]:
    """The zigpy application class of a radio type."""
    module = importlib.import_module(_APPLICATIONS[radio])
    cls: type[ControllerApplication] = getattr(module, _CLASS_NAMES[radio])
    assert issubclass(cls, ControllerApplication)
    return cls


def radio_config(
    radio: RadioKind,
    port: str,
    *,
    baudrate: int | None = None,
    flow_control: str | None = None,
    database: Path | None = None,
) -> dict[str, Any]:
    """A zigpy configuration for a radio on `port` (a device path or a serialx URL such as
    socket://host:port), checked against the radio's own schema. zigpy's OTA providers are
    off: the bridge serves the images the DSP distributes, and nothing else. The
    configuration is returned as written: the application validates it again itself."""
    device: dict[str, Any] = {zigpy_conf.CONF_DEVICE_PATH: port}
    if baudrate is not None:
        device[zigpy_conf.CONF_DEVICE_BAUDRATE] = baudrate
    if flow_control is not None:
        device[zigpy_conf.CONF_DEVICE_FLOW_CONTROL] = flow_control
    config = {
        zigpy_conf.CONF_DEVICE: device,
        zigpy_conf.CONF_DATABASE: None if database is None else str(database),
        zigpy_conf.CONF_OTA: {zigpy_conf.CONF_OTA_ENABLED: False},
    }
    check_config(radio, config)
    return config


def check_config(radio: RadioKind, config: dict[str, Any]) -> dict[str, Any]:
    """The configuration as the radio's application class reads it (its defaults filled
    in); `ZigbeeError` names what its schema refuses."""
    try:
        validated: dict[str, Any] = application_class(radio).SCHEMA(config)
    except vol.Invalid as exc:
        raise ZigbeeError(f"{radio} radio: invalid zigpy configuration: {exc}") from exc
    return validated


def radio_factory(radio: RadioKind, config: dict[str, Any]) -> AppFactory:
    """Starts the radio's application as zigpy's `new` does (its database loaded, the
    network formed if the radio has none)."""
    if radio is RadioKind.EMULATED:
        raise ZigbeeError("the emulated radio is built with its network (emulated_factory)")
    cls = application_class(radio)

    async def start() -> ControllerApplication:
        try:
            app: ControllerApplication = await cls.new(config, auto_form=True, start_radio=True)
        except Exception as exc:  # the radio libraries raise anything a port can raise
            path = config[zigpy_conf.CONF_DEVICE][zigpy_conf.CONF_DEVICE_PATH]
            raise RadioUnavailableError(f"{radio} radio on {path}: {exc!r}") from exc
        return app

    return start
