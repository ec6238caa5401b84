"""`smetslab init DIR`: a starter lab in a folder of one's own: the example fleet and
its faults, an emulated lab environment, the MP105 scenarios, and a pytest test on the
plugin, copied from the files smetslab ships (`hil.shipped`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hil.shipped import shipped, shipped_scenarios

from .errors import fail

STARTER = ("fleet.yaml", "faults.yaml", "lab-fleet.yaml", "lab-emulated.yaml")
EXAMPLE_TEST = '''"""A first test on smetslab's pytest plugin: an 11.2 read of the lab's ESME."""


async def test_the_esme_reports_its_firmware_version(service_user, premises):
    esme = premises.device("ESME")
    request_id = service_user.send("11.2", esme.device_id)
    answer = await service_user.response(request_id)
    assert answer["response_code"] == "I0"
    assert answer["body"]["firmware_version"] == esme.firmware_version
'''
PYTEST_INI = """[pytest]
# smetslab's plugin: the lab of lab-emulated.yaml, and each scenario file one test
smetslab_env = lab-emulated.yaml
smetslab_scenarios = scenarios
"""


def init(
    folder: Annotated[Path, typer.Argument(help="the new lab's folder (made if missing)")],
    force: Annotated[bool, typer.Option(help="overwrite files already there")] = False,
) -> None:
    """Write a starter lab into FOLDER: fleet, lab environment, scenarios, a pytest test."""
    files = {name: shipped(name).read_text() for name in STARTER}
    files |= {f"scenarios/{p.name}": p.read_text() for p in shipped_scenarios()}
    files |= {"test_lab.py": EXAMPLE_TEST, "pytest.ini": PYTEST_INI}
    there = sorted(name for name in files if (folder / name).exists())
    if there and not force:
        raise fail(f"{folder}: {', '.join(there)} already there (--force overwrites)")
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    typer.echo(f"a lab in {folder}: {len(files)} files. Next:")
    typer.echo(f"  cd {folder} && smetslab hil run --env lab-emulated.yaml scenarios/*.yaml")
    typer.echo("  pytest            # needs pip install 'smetslab[pytest]'")
