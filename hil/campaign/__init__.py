"""The firmware campaign: a service user (a supplier) upgrading a fleet the MP105 way
(docs/campaign.md).

`CampaignModel` is sans-IO (responses and alerts in, requests and timers out);
`CampaignRunner` feeds it from the bus (`smetslab campaign`). The plan says what to
upgrade; the report says what became of every device.

    model = CampaignModel(CampaignPlan(user_id, targets, ...))
    report = await CampaignRunner(bus, topics, model).run(stop)
"""

from .model import CampaignModel
from .plan import CampaignPlan, FirmwareTarget, image_sha256
from .report import CampaignReport, DeviceOutcome, GpfRead, Recovery, Totals
from .runner import CampaignRunner

__all__ = [
    "CampaignModel",
    "CampaignPlan",
    "CampaignReport",
    "CampaignRunner",
    "DeviceOutcome",
    "FirmwareTarget",
    "GpfRead",
    "Recovery",
    "Totals",
    "image_sha256",
]
