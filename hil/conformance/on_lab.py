"""Conformance on a lab started from its environment file (`smetslab hil conform --env`).

The lab gives what a `ConformanceTarget` needs: the broker it started or names, the
topic root, the supplier, and the firmware: the images of the fleet file for the
device's model other than the version it runs, the first activated at once, the second
(when there is one) future-dated, on the CPL as the fleet seeds it.
"""

from __future__ import annotations

from contract.errors import InvalidRequestError
from contract.ids import to_duis
from contract.vocabulary import Device
from hil.keys import lab_security
from hil.lab.env import LabEnv
from hil.lab.lab import Lab

from .errors import TargetError
from .report import ConformanceReport
from .runner import ConformanceRunner
from .target import ConformanceOptions, ConformanceTarget, FirmwareImage


async def conform_on_lab(
    env: LabEnv, device_id: str, options: ConformanceOptions
) -> ConformanceReport:
    """Start the lab, run the checks against `device_id` on it, stop the lab."""
    async with Lab(env) as lab:
        # with the fleet's security on: the lab's keys, a physical device's certificates
        # from the environment file's `certificates:` added (D-SEC25)
        security = lab_security(lab.keys)
        return await ConformanceRunner(target_on_lab(lab, device_id), options, security).run()


def target_on_lab(lab: Lab, device_id: str) -> ConformanceTarget:
    device, ch_id = _device(lab, device_id)
    images = _upgrades(lab, device)
    config = lab.stack.config
    return ConformanceTarget(
        lab.url,
        lab.users["supplier"],
        device.device_id,
        images[0],
        images[1] if len(images) > 1 else None,
        topic_root=config.topics.root,
        mqtt_version=config.mqtt_version,
        ch_id=ch_id,
    )


def _device(lab: Lab, device_id: str) -> tuple[Device, str]:
    try:
        wanted = to_duis(device_id)
    except InvalidRequestError as exc:
        raise TargetError(f"device {device_id!r}: {exc}") from exc
    for plan in lab.hubs:
        for device in plan.devices:
            if device.device_id == wanted:
                return device, plan.ch_id
    raise TargetError(f"device {wanted} is on none of the hubs of lab {lab.env.name}")


def _upgrades(lab: Lab, device: Device) -> list[FirmwareImage]:
    """The fleet's images for the device's model, other than the one it runs."""
    found = [
        FirmwareImage.from_image(image.to_bytes(), f"{model} {version}")
        for (manufacturer, model, version), image in sorted(lab.build.images.items())
        if (manufacturer, model) == (device.manufacturer, device.model)
        and version != device.firmware_version
    ]
    if not found:
        raise TargetError(
            f"device {device.device_id} ({device.manufacturer} {device.model}): the fleet "
            f"file of lab {lab.env.name} has no image other than the running "
            f"{device.firmware_version} to activate"
        )
    return found
