"""Small fleets that several tests build."""

from __future__ import annotations

from emulators.fleetspec import FleetSpec

# two premises, each a comms hub and an ESME running 0123ABCD: the DSP service and a
# fleet runner on a broker (tests/integration/test_dsp_over_bus.py, test_dsp_outbox.py)
TWO_ESMES = FleetSpec.model_validate(
    {
        "seed": 3,
        "templates": [
            {
                "name": "e",
                "count": 2,
                "devices": [
                    {"type": "CHF", "model": "CH-2", "firmware_versions": ["00010203"]},
                    {"type": "ESME", "model": "E470", "firmware_versions": ["0123ABCD"]},
                ],
            }
        ],
    }
)
