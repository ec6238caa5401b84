"""The campaign's parts: plan validation, the request shapes against the DSP's SRV
table, the transition tables and the keyed timers (that it stays sans-IO: test_layout)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contract.errors import IllegalTransitionError
from contract.requests import COMMAND_VARIANTS, NON_DEVICE, Srv, parse_request
from dsp_core.srv import SRVS
from hil.campaign.device import DeviceProgress, UpgradeEvent, UpgradeState
from hil.campaign.plan import FirmwareTarget
from hil.campaign.timers import Timers
from hil.campaign.tracking import Job, JobEvent, Purpose
from hil.errors import PlanError
from tests.support.campaign_bench import IMAGE, NEW, T0, USER, Bench, device_ids, make_plan, target

# ---- the plan ---------------------------------------------------------------------


def test_target_of_computes_the_r9_image_hash() -> None:
    found = target(device_ids(1))
    assert len(found.image_hash) == 64
    assert found.name == f"ACME/E-1@{NEW}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": "123"}, "8 upper-case hex"),
        ({"image_hash": "00" * 32}, "SHA-256"),
        ({"image_hash": "xyz"}, "64 hex"),
        ({"device_ids": ()}, "no device_ids"),
        ({"device_ids": ("00DB123456789000",)}, "DUIS"),
    ],
)
def test_a_bad_target_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    good = target(device_ids(1))
    fields = {
        "manufacturer": good.manufacturer,
        "model": good.model,
        "version": good.version,
        "image": IMAGE,
        "device_ids": good.device_ids,
        "image_hash": good.image_hash,
        **change,
    }
    with pytest.raises(PlanError, match=message):
        FirmwareTarget(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targets": ()}, "at least one target"),
        ({"user_id": "supplier"}, "user_id"),
        ({"gpf_ids": ("GPF",)}, "gpf_ids"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_retries": -1}, "max_retries"),
        ({"response_wait": timedelta(0)}, "response_wait"),
        ({"execution_delay": timedelta(seconds=-1)}, "execution_delay"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        make_plan(device_ids(1), **change)


def test_a_device_in_two_targets_is_refused() -> None:
    ids = device_ids(2)
    with pytest.raises(PlanError, match="more than one target"):
        make_plan(ids, targets=(target(ids), target(ids[:1], one_step=True)))


def test_the_back_off_doubles_from_retry_backoff_up_to_max_backoff() -> None:
    plan = make_plan(device_ids(1), max_backoff=timedelta(minutes=3))
    waits = [plan.backoff(n).total_seconds() for n in range(1, 6)]
    assert waits == [30, 60, 120, 180, 180]


# ---- requests, as the DSP reads them ------------------------------------------------


@pytest.mark.parametrize("srv", list(Srv))
def test_command_variants_are_the_dsp_srv_tables(srv: Srv) -> None:
    row = SRVS[str(srv)]
    assert COMMAND_VARIANTS[srv] in row.command_variants
    assert (srv in NON_DEVICE) == row.non_device


def test_every_request_the_campaign_sends_parses_in_the_dsp() -> None:
    """DESIGN §3 as the core validates it (contract.requests), for 11.1, 11.3, 8.2, 11.2."""
    ids = device_ids(2)
    bench = Bench(make_plan(ids, execution_delay=timedelta(hours=1)))
    activations = bench.distribute_all()
    parsed = [parse_request(s.to_bytes()) for s in bench.sent]
    assert [p.srv for p in parsed] == ["11.1", "11.3", "11.3"]
    assert {str(p.request_id.originator) for p in parsed} == {USER}
    assert activations[ids[0]].payload["body"]["execution_datetime"].endswith("Z")


# ---- transition tables ----------------------------------------------------------------


def test_a_device_step_its_table_does_not_allow_names_role_state_and_event() -> None:
    progress = DeviceProgress(device_ids(1)[0], target(device_ids(1)))
    with pytest.raises(IllegalTransitionError) as raised:
        progress.step(UpgradeEvent.CONFIRMED)
    error = raised.value
    assert (error.role, error.state, error.event) == (
        f"device {progress.device_id}",
        UpgradeState.QUEUED,
        UpgradeEvent.CONFIRMED,
    )


def test_a_job_cannot_be_resent_while_it_waits() -> None:
    job = Job(Purpose.READ, "x", Srv.READ_FIRMWARE, "x", ("x",))
    with pytest.raises(IllegalTransitionError, match="resend"):
        job.step(JobEvent.RESEND)


# ---- timers ----------------------------------------------------------------------------


def test_timers_pop_in_time_order_and_honour_cancel_and_reset() -> None:
    timers: Timers[str] = Timers()
    timers.set("a", T0 + timedelta(seconds=3))
    timers.set("b", T0 + timedelta(seconds=1))
    timers.set("c", T0 + timedelta(seconds=2))
    timers.cancel("c")
    timers.set("a", T0 + timedelta(seconds=5))  # reset: the old entry is stale
    assert timers.next_due() == T0 + timedelta(seconds=1)
    assert timers.pop_next(T0) is None
    assert timers.pop_next(T0 + timedelta(seconds=9)) == "b"
    assert timers.pop_next(T0 + timedelta(seconds=9)) == "a"
    assert timers.pop_next(T0 + timedelta(seconds=9)) is None
    assert len(timers) == 0


# ---- sans-IO -------------------------------------------------------------------------------
