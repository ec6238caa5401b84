"""Progress displays (smetslab/progress.py) and what they show of a campaign
(`CampaignModel.progress`; issue: operations)."""

from __future__ import annotations

import io

from rich.console import Console

from hil.campaign.model import CampaignModel, CampaignProgress
from smetslab.progress import ProgressView, wanted
from tests.support.campaign_bench import Bench, device_ids, distributed, make_plan, response


def test_a_campaign_reports_its_phase_and_the_devices_settled() -> None:
    ids = device_ids(3)
    bench = Bench(make_plan(ids))
    assert bench.model.progress() == CampaignProgress("Idle", 0, 3)
    (request,) = bench.start()
    assert bench.model.progress() == CampaignProgress("Upgrading", 0, 3)
    warned = {"not_applicable_firmware": [ids[1]]}
    bench.respond(response(request, "I0", distributed(ids, warned)))
    assert bench.model.progress() == CampaignProgress("Upgrading", 1, 3)  # skipped: settled


def test_a_view_draws_on_a_terminal_and_nothing_otherwise() -> None:
    seen = io.StringIO()
    console = Console(file=seen, force_terminal=True, width=100)
    model = CampaignModel(make_plan(device_ids(2)))
    with ProgressView(True, "campaign", console=console) as view:
        view.campaign(model)
    assert "campaign: Idle" in seen.getvalue()
    quiet = io.StringIO()
    with ProgressView(False, "campaign", console=Console(file=quiet)) as view:
        view.campaign(model)
    assert quiet.getvalue() == ""


def test_no_bar_when_json_is_asked_for_or_no_one_watches() -> None:
    assert wanted(as_json=True) is False
    assert wanted() is False  # pytest's standard error is no terminal
