"""The firmware campaign (hil.campaign) against the real sans-IO DSP core and the real
emulated example fleet, joined in one process on a manual clock (tests/support's
LabLoop), as they are over MQTT: the campaign sees only response and alert JSON.

The old CPL entries of every upgraded model are removed first (R4: Suspended); the
campaign distributes (R9), activates (immediately, or future-dated, R7), loses CS06
responses to a seeded drop fault (R8, R11), retries, reads the still-Suspended devices
(R5) and the GPFs (R6), and at the end the SMI agrees with what every SMETS2 device runs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from contract.vocabulary import CplStatus, Device, DeviceType, SmiStatus
from dsp_core.events import (
    CplChanged,
)
from emulators.faults import FaultKind, FaultPlan, FaultRule
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import load_fleet_spec
from emulators.models import GpfModel
from hil.campaign.model import CampaignModel
from hil.campaign.plan import CampaignPlan, FirmwareTarget
from hil.campaign.report import UPGRADED, CampaignReport
from hil.keys import lab_security
from tests.support.lab_loop import LabLoop

FLEET = Path(__file__).resolve().parents[2] / "configs" / "fleet.yaml"
CS06 = 0x0012
LIMIT = timedelta(days=2)


def _run(loop: LabLoop, campaign: CampaignModel) -> CampaignReport:
    """The campaign as the loop's service user, to the end (two days of device time at
    most); its report."""
    loop.run(campaign, limit=LIMIT, progress=lambda: campaign.report().to_json()["totals"])
    return campaign.report()


def _remove_old_entries(loop: LabLoop, targets: tuple[FirmwareTarget, ...]) -> list[Device]:
    """R4: every CPL entry of an upgraded model but the target becomes Removed (before
    the campaign starts: its N28 alerts reach no model)."""
    models = {(t.manufacturer, t.model): t.version for t in targets}
    for entry in loop.build.seed.cpl:
        target = models.get((entry.manufacturer, entry.model))
        if target is not None and entry.firmware_version != target:
            removed = replace(entry, status=CplStatus.REMOVED)
            loop.core_event(CplChanged(removed, loop.now))
    loop.drain()
    return [d for d in loop.state.devices.values() if d.status is SmiStatus.SUSPENDED]


def _fault_plan(seed: int) -> FaultPlan:
    """Lost CS06 responses (R8) on the devices an 11.2 can restore (R5: ESME, GSME, CHF),
    and two stale GPF mirrors (R6)."""
    drops = tuple(
        FaultRule(FaultKind.DROP, device_type=kind, message_code=CS06, probability=0.3)
        for kind in (DeviceType.ESME, DeviceType.GSME, DeviceType.CHF)
    )
    return FaultPlan(rules=(*drops, FaultRule(FaultKind.STALE_GPF_MIRROR, count=2)), seed=seed)


def _targets(build: FleetBuild) -> tuple[FirmwareTarget, ...]:
    """One target per (manufacturer, model) with an upgrade image in the fleet."""
    groups: dict[tuple[str, str], list[Device]] = {}
    for device in build.seed.devices:
        groups.setdefault((device.manufacturer, device.model), []).append(device)
    targets = []
    for (manufacturer, model, version), image in sorted(build.images.items()):
        devices = groups.get((manufacturer, model), [])
        if devices and version not in {d.firmware_version for d in devices}:
            ids = tuple(d.device_id for d in devices)
            one_step = devices[0].device_type is DeviceType.PPMID
            targets.append(
                FirmwareTarget.of(
                    manufacturer, model, version, image.to_bytes(), ids, one_step=one_step
                )
            )
    return tuple(targets)


def _gpfs_beside_gsmes(build: FleetBuild) -> tuple[str, ...]:
    devices = build.seed.devices
    hubs = {d.comms_hub_id for d in devices if d.device_type is DeviceType.GSME and d.smets == 2}
    return tuple(
        d.device_id for d in devices if d.device_type is DeviceType.GPF and d.comms_hub_id in hubs
    )


def _plan(loop: LabLoop, delay: timedelta | None) -> CampaignPlan:
    build = loop.build
    return CampaignPlan(
        user_id=loop.user,
        targets=_targets(build),
        execution_delay=delay,
        max_retries=3,
        retry_backoff=timedelta(minutes=1),
        max_backoff=timedelta(minutes=10),
        response_wait=timedelta(hours=2),  # the DSP answers E21 first (GSME: 1 h)
        receipt_wait=timedelta(hours=2),  # a GSME reports receipt when it next wakes
        batch_size=8,
        read_gpfs=True,
        gpf_ids=_gpfs_beside_gsmes(build),
        first_counter=5000,
    )


def _loop(seed: int, *, security: bool = True) -> LabLoop:
    spec, _ = load_fleet_spec(FLEET)
    spec = spec.model_copy(update={"security": security})
    return LabLoop(build_fleet(spec, _fault_plan(seed)))


def _assert_smi_matches_fleet(loop: LabLoop) -> None:
    """The MP105 outcome: for every SMETS2 device the SMI holds what it really runs."""
    for device in loop.state.devices.values():
        if device.smets == 2:
            assert device.firmware_version == loop.running(device.device_id), device


def _stale_mirrors(loop: LabLoop) -> int:
    """GPFs whose mirror differs from their GSME's running version, seen in the fleet."""
    stale = 0
    for premises in loop.build.fleet.premises.values():
        gpf, gsme = premises.gpf, premises.gsme
        if isinstance(gpf, GpfModel) and gsme is not None and gsme.profile.smets == 2:
            stale += gpf.mirror_version != gsme.running_version
    return stale


@pytest.mark.e2e
def test_campaign_recovers_lost_responses_on_the_example_fleet() -> None:
    """R4 → R9 → 11.3 with lost CS06 responses (R8) → retries and 11.2 reads (R5) →
    SMI = running version for every SMETS2 device; N29 for each restored device."""
    loop = _loop(seed=11)
    plan = _plan(loop, delay=None)
    suspended = _remove_old_entries(loop, plan.targets)
    assert suspended
    report = _run(loop, CampaignModel(plan, *lab_security(loop.build.keys)))

    totals = report.totals
    assert report.finished
    assert report.unexpected == ()
    _assert_smi_matches_fleet(loop)
    assert totals.responses_lost > 0
    assert totals.recovered_by_retry + totals.recovered_by_read > 0
    assert totals.activated == totals.devices
    assert totals.still_suspended == 0
    assert all(loop.state.devices[d.device_id].status is not SmiStatus.SUSPENDED for d in suspended)
    assert report.alerts.get("N29", 0) >= len(suspended)  # R5: one each to the supplier
    assert report.alerts.get("N52", 0) == _stale_mirrors(loop)  # R6: each stale mirror
    for outcome in report.devices:
        assert outcome.smi_version == outcome.target_version
        assert outcome.recovery in UPGRADED


@pytest.mark.e2e
def test_future_dated_campaign_confirms_by_alert() -> None:
    """R7: each 11.3 is future-dated; the 0x8F66 alerts confirm (R5 applied by the DSP);
    accepted-responses lost to the drop fault are retried (R8)."""
    loop = _loop(seed=5)
    plan = _plan(loop, delay=timedelta(hours=1))
    _remove_old_entries(loop, plan.targets)
    report = _run(loop, CampaignModel(plan, *lab_security(loop.build.keys)))

    assert report.finished
    assert report.unexpected == ()
    _assert_smi_matches_fleet(loop)
    assert report.alerts.get("8F66", 0) > 0
    assert report.alerts.get("N29", 0) > 0
    assert report.totals.activated == report.totals.devices
    assert report.totals.still_suspended == 0


@pytest.mark.e2e
def test_campaign_on_the_shipped_fault_plan_reports_what_failed() -> None:
    """configs/faults.yaml as shipped (R11): a corrupted block (R9 hash mismatch), HCALCS
    activation failures, reordered, delayed and duplicated messages, a skewed clock. The
    campaign still finishes, nothing is unexpected, and every device it could not
    upgrade is reported with the reason, and is still Suspended in the SMI (R4)."""
    spec, faults = load_fleet_spec(FLEET)
    loop = LabLoop(build_fleet(spec, faults))
    plan = _plan(loop, delay=None)
    _remove_old_entries(loop, plan.targets)
    report = _run(loop, CampaignModel(plan, *lab_security(loop.build.keys)))

    assert report.finished
    assert report.unexpected == ()
    _assert_smi_matches_fleet(loop)
    failed = [o for o in report.devices if o.recovery not in UPGRADED]
    assert failed
    assert sum("hash-mismatch" in o.error_codes for o in failed) == 1  # corrupt_block: count 1
    for outcome in failed:
        assert outcome.error_codes
        assert outcome.smi_status == SmiStatus.SUSPENDED
        assert loop.running(outcome.device_id) != outcome.target_version
    assert report.totals.still_suspended == len(failed)


@pytest.mark.e2e
def test_with_the_fleets_security_on_the_campaign_signs_every_activation() -> None:
    """Issue 17: the DSP (as the ACB, the fleet's keys) answers each 11.3 with a
    pre-command; the campaign signs it with the supplier's key and sends CV 5; the
    upgrade ends as with security off, and every device message is judged."""
    loop = _loop(seed=11, security=True)
    assert loop.build.keys is not None
    plan = _plan(loop, delay=None)
    _remove_old_entries(loop, plan.targets)
    report = _run(loop, CampaignModel(plan, *lab_security(loop.build.keys)))

    assert report.finished
    assert report.unexpected == ()
    _assert_smi_matches_fleet(loop)
    assert report.totals.activated == report.totals.devices
    security = report.security
    assert security is not None
    two_step = sum(1 for t in plan.targets if not t.one_step for _ in t.device_ids)
    assert security.pre_commands_signed >= two_step  # one per 11.3 sent, retries too
    assert security.messages_checked > 0
    assert security.messages_checked == (
        security.messages_valid + security.messages_invalid + security.messages_unchecked
    )
    # every device answer signed or MACed with its own key, and found so (D-SEC15, D-SEC20)
    assert security.messages_invalid == security.messages_unchecked == 0, security
