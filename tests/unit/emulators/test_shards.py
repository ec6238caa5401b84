"""Fleet shards (D-S1): every comms hub in exactly one partition, by a function of the hub
ID alone that every process computes alike; a shard keeps its own premises; its final
state says what its devices run and what its journal counted."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from contract.vocabulary import DeviceType
from emulators.errors import ConfigError
from emulators.faults import FaultKind, FaultRule
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import load_fleet_spec
from emulators.journal import FleetJournal
from emulators.shards import FleetShard, ShardState, shard_of
from tests.support.emulators import OLD, T0, device, down, ecs52, one_premises
from tests.support.emulators import premises_of as only_premises
from tests.support.paths import ROOT

DEMO_FLEET = ROOT / "configs" / "demo-fleet.yaml"


@pytest.fixture(scope="module")
def demo() -> FleetBuild:
    return build_fleet(*load_fleet_spec(DEMO_FLEET))


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_every_hub_is_in_exactly_one_shard(demo: FleetBuild, count: int) -> None:
    hubs = set(demo.fleet.premises)
    kept = [set(FleetShard(i, count).keep(demo.fleet).premises) for i in range(count)]
    assert sum(len(k) for k in kept) == len(hubs)  # disjoint ...
    assert set().union(*kept) == hubs  # ... and covering
    for index, own in enumerate(kept):
        assert all(shard_of(ch_id, count) == index for ch_id in own)


def test_shards_are_about_the_same_size(demo: FleetBuild) -> None:
    sizes = Counter(shard_of(ch_id, 2) for ch_id in demo.fleet.premises)
    assert len(demo.fleet.premises) == 200
    assert min(sizes.values()) >= 80  # a hash of sequential IDs, not their low bits


def test_a_kept_premises_is_the_same_model_with_its_devices(demo: FleetBuild) -> None:
    kept = FleetShard(1, 2).keep(demo.fleet)
    ch_id, premises = next(iter(kept.premises.items()))
    assert demo.fleet.premises[ch_id] is premises
    assert kept.scheduler is demo.fleet.scheduler
    assert kept.faults is demo.fleet.faults
    device_id = next(iter(premises.devices))
    assert kept.device(device_id) is premises.devices[device_id]


def test_the_partition_does_not_depend_on_the_process() -> None:
    """Python's own hash of bytes changes per process (PYTHONHASHSEED); the partition
    must not, or two hosts would disagree on who runs a hub."""
    ids = [bytes([0, 0xDB, 0x12, 0, 0, 0, n, n * 7 % 256]) for n in range(64)]
    script = (
        "from emulators.shards import shard_of;"
        f"print([shard_of(bytes.fromhex(h), 3) for h in {[i.hex() for i in ids]}])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert runs == {f"{[shard_of(i, 3) for i in ids]}\n"}
    assert len({shard_of(i, 3) for i in ids}) == 3


@pytest.mark.parametrize(
    ("text", "shard"),
    [("0/1", FleetShard(0, 1)), ("1/2", FleetShard(1, 2)), (" 2 / 3", FleetShard(2, 3))],
)
def test_a_shard_is_written_i_of_m(text: str, shard: FleetShard) -> None:
    assert FleetShard.parse(text) == shard
    assert FleetShard.parse(str(shard)) == shard


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2/2", "index must be 0 to 1"),
        ("0/0", "must be at least 1"),
        ("1", "write it I/M"),
        ("-1/2", "write it I/M"),
        ("a/b", "write it I/M"),
    ],
)
def test_a_bad_shard_is_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FleetShard.parse(text)


def test_a_fleet_that_has_run_is_not_sharded() -> None:
    build = one_premises(activation_seconds=5)
    gsme = device(build, DeviceType.GSME)
    down(build, ecs52(gsme.device_id))  # a GSME's command waits in the GPF: a timer is set
    assert len(build.fleet.scheduler)
    with pytest.raises(ConfigError, match="shard it before"):
        FleetShard(0, 2).keep(build.fleet)


def test_a_shard_state_says_what_runs_and_what_fired() -> None:
    rule = FaultRule(FaultKind.DROP, device_type=DeviceType.ESME, count=1)
    build = one_premises([rule])
    esme = device(build, DeviceType.ESME)
    journal = FleetJournal()
    journal.record(down(build, ecs52(esme.device_id)))
    journal.record(build.fleet.tick(T0))
    shard = FleetShard(0, 1)
    state = ShardState.of(shard, build.fleet, journal)
    again = ShardState.model_validate_json(state.model_dump_json())
    assert again == state
    assert again.shard == "0/1"
    assert again.premises == 1
    assert again.versions[esme.device_id.hex().upper()] == OLD.hex().upper()
    assert len(again.versions) == len(only_premises(build).devices)
    assert again.faults_fired("drop") == 1
    assert again.faults_fired("drop", 0x9999) == 0
    assert again.faults_fired("delay") == 0
