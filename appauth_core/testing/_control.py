"""A loopback control API, so a test or a shell can inject faults, read counters, seed secrets, flip
switches, register APIs, assign their app roles and rotate the signing keys of an emulator running in another
process (``python -m appauth_core.testing``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Protocol

from ._directory import ApiRegistration, AppRegistration, Directory, ManagedIdentity
from ._faults import Fault, FaultInjector, RequestCounter
from ._http import Handler, Request, Response
from ._keyvault import Vault
from ._tokens import TokenIssuer

CONTROL_KEY_HEADER = "X-Appauth-Emulator-Key"


class _Controlled(Protocol):
    """What the control API reaches of the ``AzureEmulator`` that serves it (which imports this module)."""

    faults: FaultInjector
    counters: RequestCounter
    vaults: dict[str, Vault]
    vault: Vault
    directory: Directory
    issuer: TokenIssuer
    app: AppRegistration
    user_assigned_identity: ManagedIdentity

    @property
    def configure(self) -> Callable[..., None]: ...

    @property
    def register_api(self) -> Callable[..., ApiRegistration]: ...

    def assign_role(self, api: ApiRegistration, principal: AppRegistration | ManagedIdentity, role: str) -> None: ...

    def rotate_signing_key(self) -> str: ...

    def retire_old_signing_keys(self) -> tuple[str, ...]: ...

    @property
    def tenant_id(self) -> str: ...


PRINCIPAL_ALIASES = ("app", "system", "user-assigned")
"""Names the control API takes for the emulator's own principals, besides client and object ids."""


def api_json(api: ApiRegistration) -> dict[str, Any]:
    return {
        "app_id": api.app_id,
        "app_id_uri": api.app_id_uri,
        "roles": list(api.roles),
        "version": api.version,
        "tenant_id": api.tenant_id,
        "multi_tenant": api.multi_tenant,
    }


class ControlStandIn:
    def __init__(self, emulator: _Controlled) -> None:
        self._emulator = emulator
        self.key = secrets.token_urlsafe(24)

    def route(self, request: Request) -> tuple[str, Handler]:
        return "control", self._handle

    def _handle(self, request: Request) -> Response:
        presented = request.header(CONTROL_KEY_HEADER) or ""
        if not secrets.compare_digest(presented.encode(), self.key.encode()):
            return Response.json(401, {"error": f"missing or wrong {CONTROL_KEY_HEADER} header"})
        try:
            body = request.json() if request.body else {}
            return self._dispatch(request.method, request.path.rstrip("/"), body)
        except (ValueError, TypeError, KeyError) as exc:
            return Response.json(400, {"error": str(exc)})

    def _dispatch(self, method: str, path: str, body: Any) -> Response:
        emulator = self._emulator
        if path == "/faults" and method == "POST":
            fields = dict(body)
            endpoint = fields.pop("endpoint")
            emulator.faults.inject(endpoint, Fault.from_dict(fields))
            return Response.json(201, {"endpoint": endpoint})
        if path == "/faults" and method == "GET":
            return Response.json(
                200,
                [{"endpoint": e, "status": f.status, "times": f.times} for e, f in emulator.faults.pending()],
            )
        if path == "/faults" and method == "DELETE":
            emulator.faults.clear()
            return Response(204)
        if path == "/counters" and method == "GET":
            return Response.json(200, emulator.counters.snapshot())
        if path == "/counters" and method == "DELETE":
            emulator.counters.reset()
            return Response(204)
        if path == "/secrets" and method == "POST":
            vault = emulator.vaults[body.get("vault", emulator.vault.name)]
            secret = vault.set_secret(body["name"], body["value"], content_type=body.get("contentType"))
            return Response.json(201, {"name": secret.name, "version": secret.version})
        if path == "/settings" and method == "POST":
            emulator.configure(**body)
            return Response(204)
        if path == "/apis" and method == "POST":
            fields = dict(body)
            api = emulator.register_api(fields.pop("app_id_uri"), **fields)
            return Response.json(201, api_json(api))
        if path == "/apis" and method == "GET":
            return Response.json(200, [api_json(api) for api in list(emulator.directory.apis)])
        if path == "/role-assignments" and method == "POST":
            api = self._api(str(body["api"]), body.get("tenant_id"))
            principal = self._principal(str(body["principal"]))
            emulator.assign_role(api, principal, str(body["role"]))
            return Response.json(201, {"api": api.app_id, "principal": principal.object_id, "role": body["role"]})
        if path == "/signing-keys" and method == "GET":
            return Response.json(200, {"kids": list(emulator.issuer.kids)})
        if path == "/signing-keys/rotate" and method == "POST":
            return Response.json(201, {"kid": emulator.rotate_signing_key()})
        if path == "/signing-keys/retire" and method == "POST":
            return Response.json(200, {"retired": list(emulator.retire_old_signing_keys())})
        return Response.json(404, {"error": f"no control route {method} {path}"})

    def _api(self, name: str, tenant_id: str | None) -> ApiRegistration:
        """By App ID URI or app id, in ``tenant_id`` (default: the home tenant)."""
        api = self._emulator.directory.find_api(tenant_id or self._emulator.tenant_id, name)
        if api is None:
            raise ValueError(f"no API {name!r} in the tenant: register it first (POST /apis)")
        return api

    def _principal(self, name: str) -> AppRegistration | ManagedIdentity:
        """``app``, ``system``, ``user-assigned``, or a service principal's or managed identity's client id or
        object id."""
        emulator = self._emulator
        aliases: dict[str, AppRegistration | ManagedIdentity] = {
            "app": emulator.app,
            "system": emulator.directory.system_identity,
            "user-assigned": emulator.user_assigned_identity,
        }
        found: AppRegistration | ManagedIdentity | None = (
            aliases.get(name)
            or emulator.directory.find_app(name)
            or emulator.directory.find_identity(client_id=name)
            or emulator.directory.find_identity(object_id=name)
            or next((a for a in list(emulator.directory.apps.values()) if a.object_id == name), None)
        )
        if found is None:
            raise ValueError(f"no principal {name!r}: give {', '.join(PRINCIPAL_ALIASES)}, or a client id or object id")
        return found
