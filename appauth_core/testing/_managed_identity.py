"""Managed-identity endpoints of every Azure host type, on plain http as on the real hosts (Service
Fabric alone is https with a pinned certificate). Each host type speaks its own dialect: header names,
api-versions, identity parameter names and string-vs-int fields differ, and clients break on each
difference, so each is reproduced exactly."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._directory import Directory, ManagedIdentity, ResourceNotFound, TokenTarget
from ._http import Handler, Request, Response
from ._tokens import IssuedToken, TokenIssuer, audience_for_resource

APP_SERVICE_PATH = "/msi/token"
IMDS_PATH = "/metadata/identity/oauth2/token"
ARC_PREFIX = "/arc"
CLOUD_SHELL_PATH = "/cloudshell/oauth2/token"
SERVICE_FABRIC_API_VERSION = "2019-07-01-preview"


def _imds_error(status: int, error: str, description: str) -> Response:
    return Response.json(status, {"error": error, "error_description": description})


def _app_service_error(status: int, message: str) -> Response:
    return Response.json(status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())})


def _service_fabric_error(status: int, code: str, message: str) -> Response:
    return Response.json(status, {"error": {"correlationId": str(uuid.uuid4()), "code": code, "message": message}})


def _refusing_unknown_resources(handler: Handler, answer: Callable[[str], Response]) -> Handler:
    """``handler``, answering Entra's AADSTS500011 (an App ID URI the tenant has no API for) in the host's
    dialect: the host passes Entra's error text on with a 400."""

    def guarded(request: Request) -> Response:
        try:
            return handler(request)
        except ResourceNotFound as missing:
            return answer(f"AADSTS{missing.code}: {missing.message}")

    return guarded


def _app_service_refusal(message: str) -> Response:
    return _app_service_error(400, message)


def _imds_refusal(message: str) -> Response:
    return _imds_error(400, ResourceNotFound.error, message)


def _service_fabric_refusal(message: str) -> Response:
    return _service_fabric_error(400, ResourceNotFound.error, message)


def _legacy_expires_on(epoch: int) -> str:
    """The 2017-09-01 App Service form, e.g. ``11/27/2026 01:02:03 AM +00:00`` (msal 1.39 cannot parse it)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%m/%d/%Y %I:%M:%S %p +00:00")


def _seconds_left(token: IssuedToken) -> int:
    """``expires_in`` of a reply: the whole lifetime for a new token, what is left of it for a kept one."""
    return max(token.expires_on - int(time.time()), 0)


def issue_for_identity(
    issuer: TokenIssuer, identity: ManagedIdentity, target: TokenTarget, *, lifetime: int | None, tenant_id: str = ""
) -> IssuedToken:
    """A managed identity's token for ``target`` (audience, version, roles), in its own tenant by default."""
    return issuer.issue(
        tenant_id=tenant_id or identity.tenant_id,
        audience=target.audience,
        app_id=identity.client_id,
        object_id=identity.object_id,
        appidacr="2",
        lifetime=lifetime,
        extra={"xms_mirid": identity.resource_id},
        version=target.version,
        roles=target.roles,
    )


class ManagedIdentityStandIn:
    """App Service (2019-08-01 and 2017-09-01), IMDS, Azure Arc and Cloud Shell on one http port, and
    Service Fabric on its own https port (``route_service_fabric``)."""

    def __init__(self, directory: Directory, issuer: TokenIssuer, arc_key_dir: Path) -> None:
        self.directory = directory
        self.issuer = issuer
        self.identity_header = secrets.token_urlsafe(24)
        self.service_fabric_secret = secrets.token_urlsafe(24)
        self.arc_key_dir = arc_key_dir
        self.token_lifetime = 86399  # managed-identity tokens live about 24 h
        self.legacy_expires_on = False  # App Service 2017-09-01: answer with the date form
        # Azure's managed-identity endpoints cache the tokens they hand out ("the managed identities subsystem
        # does cache tokens"): True answers every request for the same identity and resource with the same
        # token until half its lifetime has passed, then with a new one. Off by default, so that the tests
        # that count or compare issued tokens see one per request.
        self.reuse_tokens = False
        self._kept: dict[tuple[str, str, TokenTarget], IssuedToken] = {}
        self._arc_keys: set[str] = set()
        self._lock = threading.Lock()

    # --- routing ----------------------------------------------------------------------------------

    def route(self, request: Request) -> tuple[str, Handler]:
        path = request.path.rstrip("/").lower() or "/"
        if path == APP_SERVICE_PATH:
            if request.query.get("api-version") == "2017-09-01":
                return "mi.app_service_2017", _refusing_unknown_resources(self._app_service_2017, _app_service_refusal)
            return "mi.app_service", _refusing_unknown_resources(self._app_service, _app_service_refusal)
        if path == IMDS_PATH:
            return "mi.imds", _refusing_unknown_resources(self._imds, _imds_refusal)
        if path == ARC_PREFIX + IMDS_PATH:
            return "mi.arc", _refusing_unknown_resources(self._arc, _imds_refusal)
        if path == CLOUD_SHELL_PATH:
            return "mi.cloud_shell", _refusing_unknown_resources(self._cloud_shell, _imds_refusal)
        return "mi.unknown", lambda _r: _imds_error(404, "not_found", f"No such endpoint: {request.path}")

    def route_service_fabric(self, request: Request) -> tuple[str, Handler]:
        return "mi.service_fabric", _refusing_unknown_resources(self._service_fabric, _service_fabric_refusal)

    # --- shared -----------------------------------------------------------------------------------

    def _issue(self, identity: ManagedIdentity, resource: str) -> IssuedToken:
        """``ResourceNotFound`` for an App ID URI the identity's tenant has no API for."""
        target = self.directory.token_target(identity.tenant_id, audience_for_resource(resource), identity.object_id)
        if not self.reuse_tokens:
            return issue_for_identity(self.issuer, identity, target, lifetime=self.token_lifetime)
        key = (identity.object_id, identity.tenant_id, target)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept.expires_on - time.time() > kept.expires_in / 2:
                return kept
            self._kept[key] = issued = issue_for_identity(self.issuer, identity, target, lifetime=self.token_lifetime)
            return issued

    def _select(self, query: dict[str, str] | Any, names: dict[str, str]) -> tuple[ManagedIdentity | None, int]:
        """Find the identity named by the host's own parameter names; returns (identity, how many ids given)."""
        given = {kind: query[param] for param, kind in names.items() if query.get(param)}
        identity = self.directory.find_identity(
            client_id=given.get("client_id"),
            object_id=given.get("object_id"),
            resource_id=given.get("resource_id"),
        )
        return identity, len(given)

    # --- App Service / Functions 2019-08-01 -------------------------------------------------------

    def _app_service(self, request: Request) -> Response:
        if request.header("x-identity-header") != self.identity_header:
            return _app_service_error(401, "The X-IDENTITY-HEADER header is missing or does not match.")
        if request.query.get("api-version") != "2019-08-01":
            return _app_service_error(400, f"Unsupported api-version '{request.query.get('api-version')}'.")
        resource = request.query.get("resource")
        if not resource:
            return _app_service_error(400, "The 'resource' parameter is required.")
        identity, count = self._select(
            request.query,
            {
                "client_id": "client_id",
                "mi_res_id": "resource_id",
                "object_id": "object_id",
                "principal_id": "object_id",
            },
        )
        if count > 1:
            return _app_service_error(400, "Only one of client_id, mi_res_id or object_id/principal_id may be given.")
        if identity is None:
            return _app_service_error(
                400, "No managed identity found for the specified ClientId/ResourceId/PrincipalId."
            )
        token = self._issue(identity, resource)
        return Response.json(
            200,
            {
                "access_token": token.access_token,
                "expires_on": str(token.expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            },
        )

    # --- App Service 2017-09-01 (MSI_ENDPOINT / MSI_SECRET) ---------------------------------------

    def _app_service_2017(self, request: Request) -> Response:
        if request.header("secret") != self.identity_header:
            return _app_service_error(401, "The secret header is missing or does not match.")
        resource = request.query.get("resource")
        if not resource:
            return _app_service_error(400, "The 'resource' parameter is required.")
        identity, _ = self._select(request.query, {"clientid": "client_id"})
        if identity is None:
            return _app_service_error(400, "No managed identity found for the specified ClientId.")
        token = self._issue(identity, resource)
        expires_on = _legacy_expires_on(token.expires_on) if self.legacy_expires_on else str(token.expires_on)
        return Response.json(
            200,
            {
                "access_token": token.access_token,
                "expires_on": expires_on,
                "resource": resource,
                "token_type": "Bearer",
            },
        )

    # --- IMDS 2018-02-01 --------------------------------------------------------------------------

    def _imds_reply(self, identity: ManagedIdentity, resource: str, echo: dict[str, str]) -> Response:
        token = self._issue(identity, resource)
        lifetime = str(_seconds_left(token))
        # IMDS answers every field as a string, numbers included.
        return Response.json(
            200,
            {
                "access_token": token.access_token,
                "client_id": identity.client_id,
                "expires_in": lifetime,
                "expires_on": str(token.expires_on),
                "ext_expires_in": lifetime,
                "not_before": str(token.issued_at),
                "resource": resource,
                "token_type": "Bearer",
                **echo,
            },
        )

    def _imds_checks(self, request: Request) -> Response | tuple[ManagedIdentity, str]:
        if request.method != "GET":
            return _imds_error(405, "invalid_request", "The requested method is not supported.")
        if request.header("metadata") != "true":
            return _imds_error(400, "invalid_request", "Required metadata header not specified")
        if request.header("x-forwarded-for"):
            return _imds_error(400, "invalid_request", "Request was rejected because it was forwarded by a proxy.")
        if not request.query.get("api-version"):
            return _imds_error(400, "invalid_request", "Bad request. api-version was not specified in the request.")
        resource = request.query.get("resource")
        if not resource:
            return _imds_error(400, "invalid_request", "Required audience parameter not specified")
        identity, count = self._select(
            request.query,
            {
                "client_id": "client_id",
                "object_id": "object_id",
                "msi_res_id": "resource_id",
                "mi_res_id": "resource_id",
            },
        )
        if count > 1:
            return _imds_error(400, "invalid_request", "Multiple identity parameters specified.")
        if identity is None:
            return _imds_error(400, "invalid_request", "Identity not found")
        return identity, resource

    def _imds(self, request: Request) -> Response:
        checked = self._imds_checks(request)
        if isinstance(checked, Response):
            return checked
        return self._imds_reply(*checked, echo={})

    # --- Azure Arc (himds) ------------------------------------------------------------------------

    def _arc(self, request: Request) -> Response:
        checked = self._imds_checks(request)
        if isinstance(checked, Response):
            return checked
        identity, resource = checked
        authorization = request.header("authorization") or ""
        if not authorization.startswith("Basic "):
            return self._arc_challenge()
        with self._lock:
            known = authorization[len("Basic ") :] in self._arc_keys
        if not known:
            return _imds_error(401, "unauthorized_client", "The key in the Authorization header is not valid.")
        echo = {
            name: value
            for name, value in (
                ("client_id", request.query.get("client_id")),
                ("object_id", request.query.get("object_id")),
                ("msi_res_id", request.query.get("msi_res_id")),
            )
            if value
        }
        return self._imds_reply(identity, resource, echo=echo)

    def _arc_challenge(self) -> Response:
        """A fresh key file per challenge, as the Arc agent does; only root may read the real folder."""
        self.arc_key_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path = self.arc_key_dir / f"{uuid.uuid4().hex}.key"
        path.write_text(key)
        path.chmod(0o600)
        with self._lock:
            self._arc_keys.add(key)
        return Response(401, b"", {"WWW-Authenticate": f"Basic realm={path}"})

    # --- Cloud Shell ------------------------------------------------------------------------------

    def _cloud_shell(self, request: Request) -> Response:
        if request.method != "POST":
            return _imds_error(405, "invalid_request", "Cloud Shell's token endpoint takes POST.")
        if request.header("metadata") != "true":
            return _imds_error(400, "invalid_request", "Required metadata header not specified")
        resource = request.form().get("resource")
        if not resource:
            return _imds_error(400, "invalid_request", "Required parameter resource not specified")
        token = self._issue(self.directory.system_identity, resource)
        return Response.json(
            200,
            {
                "access_token": token.access_token,
                "refresh_token": "",
                "expires_in": str(_seconds_left(token)),
                "expires_on": str(token.expires_on),
                "not_before": str(token.issued_at),
                "resource": resource,
                "token_type": "Bearer",
            },
        )

    # --- Service Fabric ---------------------------------------------------------------------------

    def _service_fabric(self, request: Request) -> Response:
        error = _service_fabric_error
        secret = request.header("secret")
        if not secret:
            return error(401, "SecretHeaderNotFound", "Secret is not found in the request headers.")
        if secret != self.service_fabric_secret:
            return error(401, "SecretHeaderNotFound", "Secret header value does not match.")
        if request.query.get("api-version") != SERVICE_FABRIC_API_VERSION:
            return error(400, "InvalidApiVersion", f"api-version must be {SERVICE_FABRIC_API_VERSION}.")
        resource = request.query.get("resource")
        if not resource:
            return error(400, "ArgumentNullOrEmpty", "Value cannot be null or empty. Parameter name: resource")
        token = self._issue(self.directory.system_identity, resource)
        return Response.json(
            200,
            {
                "token_type": "Bearer",
                "access_token": token.access_token,
                "expires_on": token.expires_on,
                "resource": resource,
            },
        )
