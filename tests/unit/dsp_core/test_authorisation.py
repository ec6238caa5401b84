"""Authorisation R2 in order, and the device-status check R3, with the MP105 switch."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from contract.codes import ResponseCode
from contract.vocabulary import (
    Device,
    DeviceType,
    Registration,
    Role,
    SmiStatus,
    User,
    UserStatus,
)
from dsp_core.authorisation import AccessRequest, Authorised, Refused, authorise
from dsp_core.srv import SRVS
from tests.support.paths import SHARED

SUPPLIER = User("90-B3-D5-1F-30-01-00-00", frozenset({Role.IMPORT_SUPPLIER}))
GAS_SUPPLIER = User("90-B3-D5-1F-30-01-00-01", frozenset({Role.GAS_SUPPLIER}))
DNO = User("90-B3-D5-1F-30-02-00-00", frozenset({Role.ELECTRICITY_DISTRIBUTOR}))
STRANGER = User("90-B3-D5-1F-30-09-00-00", frozenset({Role.IMPORT_SUPPLIER}))
REGISTRATION = Registration("1100000000001", SUPPLIER.user_id, DNO.user_id)
ESME = Device(
    "00-DB-12-34-56-78-90-A0",
    DeviceType.ESME,
    2,
    "GFI",
    "ESME-1",
    "0123ABCE",
    SmiStatus.COMMISSIONED,
    "00-DB-12-34-56-78-90-A2",
    REGISTRATION.mpxn,
)


def _request(
    srv: str,
    cv: int,
    device: Device | None = ESME,
    user: User | None = SUPPLIER,
    role: Role | None = None,
) -> AccessRequest:
    return AccessRequest(srv, cv, user, role, device, REGISTRATION)


def _code(result: Authorised | Refused) -> ResponseCode | None:
    return result.code if isinstance(result, Refused) else None


# R3 case name -> (SRV, command variant, SMETS generation)
CASES = {
    "11.1": ("11.1", 8, 2),
    "11.2": ("11.2", 1, 2),
    "11.3": ("11.3", 4, 2),
    "2.2 CV2 SMETS1": ("2.2", 2, 1),
    "2.2 CV2 SMETS2": ("2.2", 2, 2),
    "6.23": ("6.23", 1, 2),
    "8.2": ("8.2", 8, 2),
}
# R3: the cases refused with E5 in each status; "11.2*" means only with MP105 off.
# 11.1 and 8.2 are non-device SRs: never E5 (11.1 warns per device instead, R9).
# 11.3 is Critical: E5 is not applied, except that Recovery rejects every device SR.
ALL_DEVICE_NON_CRITICAL = {"11.2", "2.2 CV2 SMETS1", "2.2 CV2 SMETS2", "6.23"}
E5_BY_STATUS: dict[SmiStatus, set[str]] = {
    SmiStatus.PENDING: set(),
    SmiStatus.WHITELISTED: set(),
    SmiStatus.INSTALLED_NOT_COMMISSIONED: set(),
    SmiStatus.COMMISSIONED: set(),
    SmiStatus.RECOVERED: set(),
    SmiStatus.DECOMMISSIONED: ALL_DEVICE_NON_CRITICAL,
    SmiStatus.WITHDRAWN: ALL_DEVICE_NON_CRITICAL,
    SmiStatus.SUSPENDED: {"11.2*", "2.2 CV2 SMETS2"},
    SmiStatus.RECOVERY: ALL_DEVICE_NON_CRITICAL | {"11.3"},
}


@pytest.mark.parametrize("mp105", [True, False], ids=["mp105-on", "mp105-off"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("status", list(SmiStatus))
def test_r3_status_matrix(status: SmiStatus, case: str, mp105: bool) -> None:
    srv, cv, smets = CASES[case]
    device = replace(ESME, status=status, smets=smets)
    refused = E5_BY_STATUS[status]
    expected_e5 = case in refused or (case + "*" in refused and not mp105)
    result = authorise(_request(srv, cv, device), mp105=mp105)
    assert _code(result) == (ResponseCode.E5 if expected_e5 else None), result


def test_r3_recovered_device_uses_the_status_before_recovery() -> None:
    device = replace(
        ESME, status=SmiStatus.RECOVERED, status_before_recovery=SmiStatus.DECOMMISSIONED
    )
    assert _code(authorise(_request("11.2", 1, device))) == ResponseCode.E5
    device = replace(device, status_before_recovery=SmiStatus.SUSPENDED)
    assert _code(authorise(_request("11.2", 1, device), mp105=True)) is None
    assert _code(authorise(_request("11.2", 1, device), mp105=False)) == ResponseCode.E5


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (_request("11.2", 1, user=None), ResponseCode.E1),
        (_request("11.2", 1, role=Role.GAS_SUPPLIER), ResponseCode.E1),
        (_request("11.3", 4, user=DNO), ResponseCode.E2),
        (_request("11.1", 8, user=DNO), ResponseCode.E2),
        (_request("11.2", 1, user=replace(SUPPLIER, status=UserStatus.SUSPENDED)), ResponseCode.E3),
        (_request("11.2", 1, user=STRANGER), ResponseCode.E4),
        (_request("11.2", 1, user=GAS_SUPPLIER), ResponseCode.E4),
        (_request("11.4", 8, device=None), None),
        (_request("2.2", 1, device=replace(ESME, device_type=DeviceType.PPMID)), ResponseCode.E11),
        (_request("11.3", 4, device=replace(ESME, device_type=DeviceType.PPMID)), ResponseCode.E11),
        (_request("11.3", 1), ResponseCode.E12),
        (_request("11.2", 4), ResponseCode.E12),
        (_request("11.1", 1), ResponseCode.E12),
        (_request("11.2", 1, device=None), ResponseCode.E19),
        (_request("4.1.1", 1), ResponseCode.S1_SRV_NOT_SUPPORTED),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_r2_each_code(request_: AccessRequest, code: ResponseCode | None) -> None:
    assert _code(authorise(request_)) == code


def test_r2_network_operator_is_registered_for_11_2() -> None:
    result = authorise(_request("11.2", 1, user=DNO))
    assert isinstance(result, Authorised)
    assert result.role is Role.ELECTRICITY_DISTRIBUTOR


def test_r2_first_failure_answers() -> None:
    # a suspended user without an eligible role: E2 comes before E3
    suspended_dno = replace(DNO, status=UserStatus.SUSPENDED)
    assert _code(authorise(_request("11.3", 4, user=suspended_dno))) == ResponseCode.E2
    # E19 before E4: a stranger asking about a device that does not exist
    assert _code(authorise(_request("11.2", 1, device=None, user=STRANGER))) == ResponseCode.E19
    # E4 before E5
    decommissioned = replace(ESME, status=SmiStatus.DECOMMISSIONED)
    assert _code(authorise(_request("11.2", 1, decommissioned, STRANGER))) == ResponseCode.E4


def test_r2_critical_srs_skip_the_registration_check() -> None:
    # 11.3 is Critical: E4 is not applied, so another supplier reaches the device
    assert _code(authorise(_request("11.3", 4, user=STRANGER))) is None


def test_unsupported_srv_names_itself_and_what_is_served() -> None:
    result = authorise(_request("4.1.1", 1))
    assert isinstance(result, Refused)
    assert "4.1.1" in result.reason
    assert "11.2" in result.reason


def test_srv_table_matches_the_duis_request_matrix() -> None:
    rows = json.loads((SHARED / "testdata/duis/duis-request-matrix.json").read_text())
    matrix = {row["Service Reference Variant"]: row for row in rows}
    for srv in SRVS.values():
        row = matrix[srv.srv]
        assert srv.critical == (row["Critical"] == "Yes"), srv.srv
        assert srv.non_device == (row["Non-Device Request"] == "Yes"), srv.srv
        assert srv.eligible_roles == {Role(role) for role in row["Eligible User Roles"]}, srv.srv
