"""Key Vault's secrets data plane, one vault per port. The SDKs send every first request without a token
and expect the challenge before any routing, so authentication is checked first, then the route, the
name, the caller's permission and the operation, as the live service does."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ._http import Handler, Request, Response
from ._tokens import InvalidToken, TokenIssuer, issuer_for

VAULT_AUDIENCE = "https://vault.azure.net"
NAME_PATTERN = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
VERSION_PATTERN = re.compile(r"^[0-9a-fA-F]{32}$")
ALL_PERMISSIONS = frozenset({"get", "list", "set", "delete", "recover", "purge"})
MAX_RESULTS = 25
RECOVERY_LEVEL = "Recoverable+Purgeable"
RECOVERABLE_DAYS = 90
_SERVICE_HEADERS = {"x-ms-keyvault-region": "local", "x-ms-keyvault-service-version": "1.9.2000.1"}


@dataclass
class SecretVersion:
    name: str
    version: str
    value: str = field(repr=False)
    content_type: str | None = None
    tags: dict[str, str] | None = None
    enabled: bool = True
    not_before: int | None = None
    expires: int | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    updated: int = field(default_factory=lambda: int(time.time()))

    def attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {"enabled": self.enabled}
        if self.not_before is not None:
            attributes["nbf"] = self.not_before
        if self.expires is not None:
            attributes["exp"] = self.expires
        attributes.update(
            created=self.created,
            updated=self.updated,
            recoveryLevel=RECOVERY_LEVEL,
            recoverableDays=RECOVERABLE_DAYS,
        )
        return attributes


@dataclass
class _Deleted:
    versions: list[SecretVersion]
    deleted_date: int


class VaultError(Exception):
    def __init__(self, status: int, code: str, message: str, inner: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner


def _not_found(name: str) -> VaultError:
    return VaultError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret "
        "you may be able to recover it using the correct recovery command. For help resolving this issue, "
        "please see https://go.microsoft.com/fwlink/?linkid=2125182",
    )


class Vault:
    """One vault's secrets and access policy; the test API mirrors what the data plane offers."""

    def __init__(self, name: str, tenant_id: str, issuer: TokenIssuer, authority: Callable[[], str]) -> None:
        self.name = name
        self.tenant_id = tenant_id
        self._issuer = issuer
        self._authority = authority
        self._lock = threading.RLock()
        self._secrets: dict[str, list[SecretVersion]] = {}
        self._deleted: dict[str, _Deleted] = {}
        self._access: dict[str, frozenset[str]] = {}
        self.url = ""  # set once the listener has a port
        self.on_secret_set: list[Callable[[Vault, SecretVersion], None]] = []  # Event Grid's deliveries

    # --- test API ---------------------------------------------------------------------------------

    def grant(self, object_id: str, permissions: Iterable[str] = ALL_PERMISSIONS) -> None:
        """Give an identity (its object id, the token's ``oid``) secret permissions on this vault."""
        chosen = frozenset(permissions)
        unknown = chosen - ALL_PERMISSIONS
        if unknown:
            raise ValueError(f"unknown Key Vault secret permission(s) {sorted(unknown)}; use {sorted(ALL_PERMISSIONS)}")
        with self._lock:
            self._access[object_id.lower()] = chosen

    def revoke(self, object_id: str) -> None:
        with self._lock:
            self._access.pop(object_id.lower(), None)

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
        enabled: bool = True,
        not_before: int | None = None,
        expires: int | None = None,
    ) -> SecretVersion:
        if not NAME_PATTERN.match(name):
            raise ValueError(f"invalid Key Vault secret name {name!r}: use 1-127 letters, digits and dashes")
        version = SecretVersion(name, uuid.uuid4().hex, value, content_type, tags, enabled, not_before, expires)
        with self._lock:
            if name.lower() in self._deleted:
                raise ValueError(f"secret {name!r} is deleted but not purged; purge or recover it first")
            versions = self._secrets.setdefault(name.lower(), [])
            if versions:
                version.name = versions[0].name  # names are case-insensitive; the first spelling stays
            versions.append(version)
        for listener in list(self.on_secret_set):
            listener(self, version)
        return version

    def versions(self, name: str) -> list[SecretVersion]:
        with self._lock:
            return list(self._secrets.get(name.lower(), []))

    # --- HTTP -------------------------------------------------------------------------------------

    def route(self, request: Request) -> tuple[str, Handler]:
        prefix = f"keyvault.{self.name}"
        if not (request.header("authorization") or "").lower().startswith("bearer "):
            return f"{prefix}.challenge", self._challenge
        operation, permission, action = self._operation(request)
        return f"{prefix}.{operation}", self._authorized(permission, action)

    def _operation(self, request: Request) -> tuple[str, str, Callable[[Request, list[str]], Response]]:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        trailing = request.path.endswith("/")
        table: list[tuple[str, int, bool | None, str, str, Callable[[Request, list[str]], Response]]] = [
            # (method, segments, trailing slash?, operation, permission, action); None = either
            ("GET", 1, None, "list_secrets", "list", self._list_secrets),
            ("PUT", 2, False, "set_secret", "set", self._put),
            ("GET", 2, None, "get_secret", "get", self._get),
            ("DELETE", 2, None, "delete_secret", "delete", self._delete),
            ("PATCH", 3, None, "update_secret", "set", self._patch),
        ]
        if parts and parts[0] == "secrets":
            if method == "GET" and len(parts) == 3 and parts[2] == "versions":
                return "list_versions", "list", self._list_versions
            if method == "GET" and len(parts) == 3:
                return "get_secret", "get", self._get
            for verb, length, slash, operation, permission, action in table:
                if method == verb and len(parts) == length and (slash is None or slash == trailing):
                    return operation, permission, action
        if parts and parts[0] == "deletedsecrets":
            if method == "GET" and len(parts) == 1:
                return "list_deleted_secrets", "list", self._list_deleted
            if method == "GET" and len(parts) == 2:
                return "get_deleted_secret", "list", self._get_deleted
            if method == "DELETE" and len(parts) == 2:
                return "purge_deleted_secret", "purge", self._purge
            if method == "POST" and len(parts) == 3 and parts[2] == "recover":
                return "recover_deleted_secret", "recover", self._recover
        return "unknown", "get", self._unknown_route

    def _challenge_header(self) -> str:
        return f'Bearer authorization="{self._authority()}{self.tenant_id}", resource="{VAULT_AUDIENCE}"'

    def _error(self, error: VaultError) -> Response:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.inner:
            body["innererror"] = {"code": error.inner}
        headers = {**_SERVICE_HEADERS, "x-ms-request-id": str(uuid.uuid4())}
        if error.status == 401:
            headers["WWW-Authenticate"] = self._challenge_header()
        return Response.json(error.status, {"error": body}, headers)

    def _challenge(self, _request: Request) -> Response:
        return self._error(VaultError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."))

    def _caller(self, request: Request) -> dict[str, Any]:
        token = (request.header("authorization") or "")[len("bearer ") :].strip()
        try:
            claims = self._issuer.verify(token)
        except InvalidToken as exc:
            raise VaultError(
                401, "Unauthorized", "The access token could not be validated: invalid signature."
            ) from exc
        if claims.get("aud") != VAULT_AUDIENCE:
            raise VaultError(
                401,
                "Unauthorized",
                f"AKV10022: Invalid audience. Expected {VAULT_AUDIENCE}, found: {claims.get('aud')}.",
            )
        expected_issuer = issuer_for(self.tenant_id)
        if claims.get("iss") != expected_issuer:
            raise VaultError(
                401,
                "Unauthorized",
                f"AKV10032: Invalid issuer. Expected one of {expected_issuer}, found {claims.get('iss')}.",
            )
        now = time.time()
        if int(claims.get("exp", 0)) <= now:
            raise VaultError(401, "Unauthorized", "The access token has expired.")
        if int(claims.get("nbf", 0)) > now + 300:
            raise VaultError(401, "Unauthorized", "The access token is not yet valid.")
        return claims

    def _authorized(self, permission: str, action: Callable[[Request, list[str]], Response]) -> Handler:
        def handle(request: Request) -> Response:
            try:
                caller = self._caller(request)
                parts = [p for p in request.path.split("/") if p]
                if len(parts) >= 2 and not NAME_PATTERN.match(parts[1]):
                    raise VaultError(400, "BadParameter", f"The request URI contains an invalid name: {parts[1]}")
                with self._lock:
                    allowed = self._access.get(str(caller.get("oid", "")).lower(), frozenset())
                if permission not in allowed:
                    raise VaultError(
                        403,
                        "Forbidden",
                        f"The user, group or application 'appid={caller.get('appid')};oid={caller.get('oid')};"
                        f"iss={caller.get('iss')}' does not have secrets {permission} permission on key vault "
                        f"'{self.name};location=local'. For help resolving this issue, please see "
                        "https://go.microsoft.com/fwlink/?linkid=2125287",
                        inner="AccessDenied",
                    )
                response = action(request, parts)
            except VaultError as error:
                return self._error(error)
            response.headers.update(_SERVICE_HEADERS)
            response.headers["x-ms-request-id"] = str(uuid.uuid4())
            return response

        return handle

    # --- operations -------------------------------------------------------------------------------

    def _base(self, request: Request) -> str:
        return f"https://{request.host}"

    def _bundle(self, request: Request, secret: SecretVersion, *, with_value: bool = True) -> dict[str, Any]:
        bundle: dict[str, Any] = {}
        if with_value:
            bundle["value"] = secret.value
        bundle["id"] = f"{self._base(request)}/secrets/{secret.name}/{secret.version}"
        if secret.content_type is not None:
            bundle["contentType"] = secret.content_type
        if secret.tags is not None:
            bundle["tags"] = secret.tags
        bundle["attributes"] = secret.attributes()
        return bundle

    def _item(self, request: Request, secret: SecretVersion, *, versioned: bool) -> dict[str, Any]:
        item = self._bundle(request, secret, with_value=False)
        if not versioned:
            item["id"] = f"{self._base(request)}/secrets/{secret.name}"
        return item

    def _find(self, name: str, version: str | None) -> SecretVersion:
        with self._lock:
            versions = self._secrets.get(name.lower())
        if not versions:
            raise _not_found(name)
        if not version:
            return versions[-1]
        for candidate in versions:
            if candidate.version.lower() == version.lower():
                return candidate
        raise _not_found(name)

    def _get(self, request: Request, parts: list[str]) -> Response:
        secret = self._find(parts[1], parts[2] if len(parts) > 2 else None)
        if not secret.enabled:
            raise VaultError(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", inner="SecretDisabled"
            )
        return Response.json(200, self._bundle(request, secret))

    def _put(self, request: Request, parts: list[str]) -> Response:
        try:
            body = request.json()
        except ValueError as exc:
            raise VaultError(400, "BadParameter", "The request body is not valid JSON.") from exc
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            raise VaultError(400, "BadParameter", "Property 'value' is required and must be a string.")
        attributes = body.get("attributes") or {}
        try:
            secret = self.set_secret(
                parts[1],
                body["value"],
                content_type=body.get("contentType"),
                tags=body.get("tags"),
                enabled=attributes.get("enabled", True),
                not_before=attributes.get("nbf"),
                expires=attributes.get("exp"),
            )
        except ValueError as exc:
            raise VaultError(
                409, "Conflict", f"Secret {parts[1]} is currently in a deleted but recoverable state."
            ) from exc
        return Response.json(200, self._bundle(request, secret))

    def _patch(self, request: Request, parts: list[str]) -> Response:
        secret = self._find(parts[1], parts[2])
        body = request.json() or {}
        attributes = body.get("attributes") or {}
        with self._lock:
            if "contentType" in body:
                secret.content_type = body["contentType"]
            if "tags" in body:
                secret.tags = body["tags"]
            secret.enabled = attributes.get("enabled", secret.enabled)
            secret.not_before = attributes.get("nbf", secret.not_before)
            secret.expires = attributes.get("exp", secret.expires)
            secret.updated = int(time.time())
        return Response.json(200, self._bundle(request, secret, with_value=False))

    def _deleted_bundle(self, request: Request, name: str, deleted: _Deleted, *, with_value: bool) -> dict[str, Any]:
        latest = deleted.versions[-1]
        bundle = self._bundle(request, latest, with_value=with_value)
        if not with_value:
            bundle["id"] = f"{self._base(request)}/secrets/{latest.name}"
        bundle.update(
            recoveryId=f"{self._base(request)}/deletedsecrets/{latest.name}",
            deletedDate=deleted.deleted_date,
            scheduledPurgeDate=deleted.deleted_date + RECOVERABLE_DAYS * 86400,
        )
        return bundle

    def _delete(self, request: Request, parts: list[str]) -> Response:
        name = parts[1]
        with self._lock:
            versions = self._secrets.pop(name.lower(), None)
            if not versions:
                raise _not_found(name)
            deleted = self._deleted[name.lower()] = _Deleted(versions, int(time.time()))
        return Response.json(200, self._deleted_bundle(request, name, deleted, with_value=False))

    def _deleted_or_404(self, name: str) -> _Deleted:
        with self._lock:
            deleted = self._deleted.get(name.lower())
        if deleted is None:
            raise VaultError(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        return deleted

    def _get_deleted(self, request: Request, parts: list[str]) -> Response:
        deleted = self._deleted_or_404(parts[1])
        return Response.json(200, self._deleted_bundle(request, parts[1], deleted, with_value=False))

    def _purge(self, request: Request, parts: list[str]) -> Response:
        self._deleted_or_404(parts[1])
        with self._lock:
            self._deleted.pop(parts[1].lower(), None)
        return Response(204)

    def _recover(self, request: Request, parts: list[str]) -> Response:
        deleted = self._deleted_or_404(parts[1])
        with self._lock:
            self._deleted.pop(parts[1].lower(), None)
            self._secrets[parts[1].lower()] = deleted.versions
        return Response.json(200, self._bundle(request, deleted.versions[-1], with_value=False))

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        raw = request.query.get("maxresults") or str(MAX_RESULTS)
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_RESULTS:
            raise VaultError(400, "BadParameter", f"The value of maxresults must be between 1 and {MAX_RESULTS}.")
        size = int(raw)
        skip = request.query.get("$skiptoken") or "0"
        start = int(skip) if skip.isdigit() else 0
        page = items[start : start + size]
        next_link = None
        if start + size < len(items):
            api_version = quote(request.query.get("api-version", ""), safe="")
            next_link = (
                f"{self._base(request)}{request.path.rstrip('/')}?api-version={api_version}"
                f"&$skiptoken={start + size}&maxresults={size}"
            )
        return Response.json(200, {"value": page, "nextLink": next_link})

    def _list_secrets(self, request: Request, parts: list[str]) -> Response:
        with self._lock:
            latest = [versions[-1] for _, versions in sorted(self._secrets.items())]
        return self._page(request, [self._item(request, secret, versioned=False) for secret in latest])

    def _list_versions(self, request: Request, parts: list[str]) -> Response:
        versions = self.versions(parts[1])
        if not versions:
            raise _not_found(parts[1])
        return self._page(request, [self._item(request, secret, versioned=True) for secret in versions])

    def _list_deleted(self, request: Request, parts: list[str]) -> Response:
        with self._lock:
            deleted = sorted(self._deleted.items())
        return self._page(
            request, [self._deleted_bundle(request, name, entry, with_value=False) for name, entry in deleted]
        )

    def _unknown_route(self, request: Request, parts: list[str]) -> Response:
        raise VaultError(
            400,
            "BadParameter",
            f"The request URI is not supported by this vault: {request.method} {request.path}",
        )
