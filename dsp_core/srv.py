"""The service reference variants this DSP serves: one declarative table (R2, R3).

Criticality, non-device flag and eligible roles are the facts of the DUIS request
matrix (`testdata/duis/duis-request-matrix.json`; a test checks every row against
it). Device types and command variants are ours, from DUIS and GBCS.
"""

from __future__ import annotations

from contract.records import record
from contract.requests import SIGNED_PRE_COMMAND_CVS
from contract.vocabulary import DeviceType, Role

_ALL_ROLES = frozenset(Role)
_SUPPLIERS = frozenset({Role.IMPORT_SUPPLIER, Role.GAS_SUPPLIER})

# DUIS command variants: 1 to 3 for a Non-Critical device SR (to the device over the
# SM WAN, returned for local delivery, or both); for a Critical one 4 transforms the
# request into a pre-command for the user to sign, and 5 to 7 carry the signed
# pre-command (to the device, for local delivery, or both); 8 for a non-device SR.
NON_CRITICAL_CVS = frozenset({1, 2, 3})
TRANSFORM_CV = 4
CRITICAL_CVS = frozenset({TRANSFORM_CV}) | SIGNED_PRE_COMMAND_CVS
NON_DEVICE_CVS = frozenset({8})
LOCAL_DELIVERY_CV = 2


@record
class SrvRule:
    srv: str
    name: str
    critical: bool
    non_device: bool
    eligible_roles: frozenset[Role]
    device_types: frozenset[DeviceType]
    command_variants: frozenset[int]


def _srv(
    srv: str,
    name: str,
    *,
    critical: bool = False,
    non_device: bool = False,
    roles: frozenset[Role],
    types: frozenset[DeviceType] = frozenset(),
) -> SrvRule:
    variants = NON_DEVICE_CVS if non_device else CRITICAL_CVS if critical else NON_CRITICAL_CVS
    return SrvRule(srv, name, critical, non_device, roles, types, variants)


_T = DeviceType
SRVS: dict[str, SrvRule] = {
    row.srv: row
    for row in (
        _srv("2.2", "Top Up Device", roles=_SUPPLIERS, types=frozenset({_T.ESME, _T.GSME})),
        _srv(
            "6.23",
            "Update Security Credentials (CoS)",
            roles=_SUPPLIERS,
            types=frozenset({_T.ESME, _T.GSME}),
        ),
        _srv("8.2", "Read Inventory", non_device=True, roles=_ALL_ROLES),
        _srv(
            "11.1",
            "Update Firmware",
            non_device=True,
            roles=_SUPPLIERS,
            types=frozenset({_T.ESME, _T.GSME, _T.CHF, _T.GPF, _T.HCALCS}),
        ),
        _srv("11.2", "Read Firmware Version", roles=_ALL_ROLES, types=frozenset(DeviceType)),
        _srv(
            "11.3",
            "Activate Firmware",
            critical=True,
            roles=_SUPPLIERS,
            types=frozenset({_T.ESME, _T.GSME, _T.CHF, _T.HCALCS}),
        ),
        _srv(
            "11.4",
            "Update PPMID Firmware",
            non_device=True,
            roles=_SUPPLIERS,
            types=frozenset({_T.PPMID}),
        ),
        _srv("12.1", "Request WAN Matrix", non_device=True, roles=_ALL_ROLES),
    )
}
