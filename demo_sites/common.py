"""What both demo home pages show, computed the same way for Django and Flask: the sites differ only in
how they reach appauth, which is the point of the demo. ``appauth`` is what a view gets (``request.appauth``
/ ``g.appauth``: tokens, secrets, the principal); ``services`` is the app-level object
(``appauth_django.conf.get_services()`` / the Flask ``AppAuth`` object's ``services``), for the provider as
an Azure SDK credential and the configuration shown on the page."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from typing import Any

from appauth_core import AppAuthError, AppAuthServices, RequestAppAuth
from appauth_core.tokens import unverified_claims

ARM = "https://management.azure.com/"
STORAGE = "https://storage.azure.com/"
GREETING = "demo-greeting"


@dataclass
class TokenStatus:
    resource: str
    ok: bool
    audience: str = ""
    expires: str = ""
    minutes_left: int = 0
    error: str = ""


@dataclass
class HomePage:
    greeting: str = ""
    greeting_error: str = ""
    principal: dict[str, str] = field(default_factory=dict)
    method: str = ""
    tokens: list[TokenStatus] = field(default_factory=list)
    blobs: list[dict[str, Any]] = field(default_factory=list)
    blobs_error: str = ""
    cache_seconds: int = 0
    vault_url: str = ""


def _token_status(appauth: RequestAppAuth, resource: str) -> TokenStatus:
    try:
        claims = unverified_claims(appauth.get_access_token(resource))
    except AppAuthError as error:
        return TokenStatus(resource, ok=False, error=str(error))
    expires_on = dt.datetime.fromtimestamp(int(claims["exp"]), dt.timezone.utc)
    return TokenStatus(
        resource,
        ok=True,
        audience=str(claims.get("aud", "")),
        expires=expires_on.strftime("%Y-%m-%d %H:%M:%S UTC"),
        minutes_left=int((expires_on.timestamp() - time.time()) // 60),
    )


def _blobs(services: AppAuthServices) -> list[dict[str, Any]]:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(os.environ["DEMO_STORAGE_ACCOUNT_URL"], credential=services.provider)
    container = service.get_container_client(os.environ.get("DEMO_STORAGE_CONTAINER", "demo-files"))
    return [{"name": blob.name, "size": blob.size} for blob in container.list_blobs()]


def home_page(appauth: RequestAppAuth, services: AppAuthServices) -> HomePage:
    page = HomePage(
        cache_seconds=int(services.config.secret_cache_seconds), vault_url=services.config.key_vault_url or ""
    )
    try:
        page.greeting = appauth.secret(GREETING)
    except AppAuthError as error:
        page.greeting_error = str(error)
    page.tokens = [_token_status(appauth, ARM), _token_status(appauth, STORAGE)]
    principal = appauth.principal
    if principal is not None:
        page.principal = {
            "type": principal.type,
            "app id": principal.app_id or "",
            "tenant": principal.tenant_id or "",
        }
    page.method = services.provider.method_used or ""
    try:
        page.blobs = _blobs(services)
    except Exception as error:  # the page reports storage problems instead of failing
        page.blobs_error = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
    return page


def rotate(services: AppAuthServices) -> str:
    """Write a new version of the greeting into the vault, with the site's own managed identity (the
    provider as an azure-core credential). The page shows it once the cached value's TTL has passed."""
    from azure.keyvault.secrets import SecretClient

    vault_url = services.config.key_vault_url
    assert vault_url, "the demo sites always configure a vault"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S UTC")
    value = f"Hello from Key Vault! Rotated at {stamp}; cached copies refresh after the TTL."
    client = SecretClient(vault_url, services.provider, verify_challenge_resource=False)
    version: str = client.set_secret(GREETING, value).properties.version or ""
    client.close()
    return version


def status(appauth: RequestAppAuth) -> tuple[dict[str, Any], int]:
    """``/api/status``: what a health check or a JSON API of such a site would do on every request (a cached
    token, a cached secret), with nothing else in the way. The load tests drive this page. It says that the
    secret could be read, never what it holds: a status endpoint is unauthenticated by nature. 503 when either
    could not be had, so a load run counts it."""
    try:
        secret_read = bool(appauth.secret(GREETING))
        claims = unverified_claims(appauth.get_access_token(ARM))
    except AppAuthError as error:
        return {"ok": False, "error": type(error).__name__}, 503
    return {"ok": True, "secret_read": secret_read, "arm_token_expires_on": int(claims["exp"])}, 200
