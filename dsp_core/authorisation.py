"""Authorisation of a service request, R2 in order; the device-status check is R3.

Pure functions over the records: no store, no clock. The first failing check answers.
"""

from __future__ import annotations

from contract.codes import ResponseCode
from contract.records import record
from contract.vocabulary import (
    COMMUNICABLE,
    NETWORK_OPERATOR_ROLES,
    SUPPLIER_ROLES,
    Device,
    Registration,
    Role,
    SmiStatus,
    User,
    UserStatus,
)

from .srv import LOCAL_DELIVERY_CV, SRVS, SrvRule


@record
class AccessRequest:
    """What authorisation needs to know about one service request."""

    srv: str
    command_variant: int
    user: User | None
    role: Role | None = None
    device: Device | None = None
    registration: Registration | None = None


@record
class Authorised:
    srv: SrvRule
    role: Role


@record
class Refused:
    code: ResponseCode
    reason: str


def authorise(request: AccessRequest, *, mp105: bool = True) -> Authorised | Refused:
    srv = SRVS.get(request.srv)
    if srv is None:
        served = ", ".join(SRVS)
        return Refused(
            ResponseCode.S1_SRV_NOT_SUPPORTED,
            f"SRV {request.srv} is not supported by this DSP (served: {served})",
        )
    role_or_refusal = _user_checks(request, srv)
    if isinstance(role_or_refusal, Refused):
        return role_or_refusal
    if not srv.non_device:
        assert request.user is not None  # _user_checks refused a missing user with E1
        refusal = _device_checks(request, srv, request.user, role_or_refusal, mp105)
        if refusal is not None:
            return refusal
    return Authorised(srv, role_or_refusal)


def _user_checks(request: AccessRequest, srv: SrvRule) -> Role | Refused:
    """E1, E2, E3 and E12, in that order; the role the request is made in."""
    user = request.user
    if user is None:
        return Refused(ResponseCode.E1, "unknown user")
    if request.role is not None and request.role not in user.roles:
        return Refused(ResponseCode.E1, f"user {user.user_id} does not hold role {request.role}")
    candidates = [request.role] if request.role is not None else sorted(user.roles)
    eligible = [role for role in candidates if role in srv.eligible_roles]
    if not eligible:
        held = "/".join(sorted(candidates))
        return Refused(ResponseCode.E2, f"role {held} is not eligible for SRV {srv.srv}")
    if user.status is UserStatus.SUSPENDED:
        return Refused(ResponseCode.E3, f"user {user.user_id} is suspended")
    if request.command_variant not in srv.command_variants:
        allowed = sorted(srv.command_variants)
        return Refused(
            ResponseCode.E12,
            f"command variant {request.command_variant} is not "
            f"valid for SRV {srv.srv} (allowed: {allowed})",
        )
    return eligible[0]


def _device_checks(
    request: AccessRequest, srv: SrvRule, user: User, role: Role, mp105: bool
) -> Refused | None:
    """E19, E11, E4 (not for Critical SRs) and E5 (R3), in that order."""
    device = request.device
    if device is None:
        return Refused(ResponseCode.E19, "device does not exist in the SMI")
    if device.device_type not in srv.device_types:
        return Refused(
            ResponseCode.E11,
            f"SRV {srv.srv} is not valid for a {device.device_type} ({device.device_id})",
        )
    if not srv.critical and not is_registered_for(user, role, request.registration):
        return Refused(
            ResponseCode.E4,
            f"user {user.user_id} ({role}) is not registered for {device.device_id} "
            f"at MPxN {device.mpxn}",
        )
    if not status_allows(srv, request.command_variant, device, mp105=mp105):
        return Refused(
            ResponseCode.E5,
            f"device {device.device_id} is {device.status}: SRV {srv.srv} not allowed",
        )
    return None


def is_registered_for(user: User, role: Role, registration: Registration | None) -> bool:
    if registration is None:
        return False
    if role in SUPPLIER_ROLES:
        return registration.supplier_id == user.user_id
    if role in NETWORK_OPERATOR_ROLES:
        return registration.network_operator_id == user.user_id
    return False


def effective_status(device: Device) -> SmiStatus:
    """R3: for a Recovered device, the status before Recovery is used."""
    if device.status is SmiStatus.RECOVERED and device.status_before_recovery is not None:
        return device.status_before_recovery
    return device.status


def status_allows(srv: SrvRule, command_variant: int, device: Device, *, mp105: bool) -> bool:
    """R3, the E5 check, for a device SR (non-device SRs are not subject to it)."""
    status = effective_status(device)
    if status is SmiStatus.RECOVERY:
        return False
    if srv.critical or srv.non_device:
        return True
    if status is SmiStatus.SUSPENDED:
        return suspended_exception(srv, command_variant, device, mp105=mp105)
    return status in COMMUNICABLE


def suspended_exception(srv: SrvRule, command_variant: int, device: Device, *, mp105: bool) -> bool:
    """The Non-Critical SRs a Suspended device still accepts (R3)."""
    match srv.srv:
        case "11.1" | "6.23":
            return True
        case "11.2":
            return mp105
        case "2.2":
            return command_variant == LOCAL_DELIVERY_CV and device.smets == 1
        case _:
            return False
