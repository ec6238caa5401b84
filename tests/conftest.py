"""Shared test fixtures: the DCC reference data in ../shared/testdata, read in place
(tests/support/paths.py), the tiers, and the brokers. What tests share beyond fixtures
lives in tests/support/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bus.broker import EmbeddedBroker
from tests.support.brokers import Mosquitto, mosquitto
from tests.support.paths import DUIS_REQUESTS, RTDS_DIR

# pytester: the smetslab pytest plugin (hil/pytest_plugin.py) is tested by running
# small test files in their own pytest session (tests/integration/test_pytest_plugin.py)
pytest_plugins = ["pytester"]

if not RTDS_DIR.is_dir():  # a missing checkout of shared/ is an error, never a skip
    raise pytest.UsageError(f"test data not found at {RTDS_DIR}; clone shared/ beside the project")


TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tier of a test is its directory: tests/unit, tests/integration, tests/e2e
    (`pytest -m unit` is `make unit`)."""
    tests = Path(__file__).parent
    for item in items:
        try:
            tier = item.path.relative_to(tests).parts[0]
        except ValueError:  # a pytester run's own files, outside tests/
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
def rtds_dir() -> Path:
    return RTDS_DIR


@pytest.fixture
def duis_requests() -> Path:
    return DUIS_REQUESTS


# ---- real brokers (tests/support/brokers.py): a private mosquitto and the embedded amqtt ----


@pytest.fixture
def mosquitto_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with mosquitto(tmp_path) as broker:
        yield broker


@pytest.fixture
async def embedded_broker() -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker() as broker:
        yield broker
