"""`lab up` prints where everything is, the broker's password masked (issue 18)."""

from __future__ import annotations

from pathlib import Path

from hil.lab.up import LabUpInfo


def test_the_broker_is_printed_without_its_password() -> None:
    info = LabUpInfo("mqtt://lab:s3cret@10.0.0.2:1883", "sqlite:///x", "smetslab", Path(), 1, ())
    assert info.to_json()["broker"] == "mqtt://lab:***@10.0.0.2:1883"
