"""Shared by the Django and Flask tests of protected APIs (issue 17): what the test APIs answer about their
caller, and tokens from the emulator for them."""

from __future__ import annotations

import uuid
from typing import Any

from appauth_core.testing import ApiRegistration, AzureEmulator

ROLES = ("Orders.Read", "Orders.Write", "Other")


def describe(caller: Any) -> dict[str, Any]:
    """``caller`` (an ``appauth_core.Caller``, or None) as a JSON object."""
    if caller is None:
        return {"caller": None}
    return {
        "client_id": caller.client_id,
        "tenant_id": caller.tenant_id,
        "object_id": caller.object_id,
        "roles": sorted(caller.roles),
        "scopes": sorted(caller.scopes),
        "version": caller.version,
        "is_app": caller.is_app,
    }


def register_orders_api(emulator: AzureEmulator, name: str, *, version: int = 1) -> ApiRegistration:
    """A new API in the emulator (an App ID URI of its own, so that role assignments and cached tokens stay
    with one test) with the app roles ``ROLES``."""
    return emulator.register_api(f"api://{name}-{uuid.uuid4().hex[:8]}", roles=ROLES, version=version)


def api_settings(emulator: AzureEmulator, audience: str | list[str]) -> dict[str, Any]:
    """``APPAUTH['API']`` (Flask: the ``APPAUTH_API_*`` keys) for tokens the emulator issues for ``audience``."""
    return {"AUDIENCE": audience, "TENANT_ID": emulator.tenant_id, "AUTHORITY": emulator.authority}


def issued(emulator: AzureEmulator, resource: str, *, lifetime: int | None = None) -> str:
    """A token for ``resource`` exactly as the emulator's managed-identity endpoint issues it to the system
    identity (its assigned roles included), without the round trip; ``lifetime`` < 0 for an expired one."""
    identity = emulator.directory.system_identity
    return emulator.issue_token(resource, identity=identity, lifetime=lifetime).access_token
