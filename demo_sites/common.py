"""What both demo home pages show, computed the same way for Django and Flask: the sites differ only in
how they reach appauth, which is the point of the demo. ``appauth`` is what a view gets (``request.appauth``
/ ``g.appauth``: tokens, secrets, the principal, the downstream APIs, the caller); ``services`` is the
app-level object (``appauth_django.conf.get_services()`` / the Flask ``AppAuth`` object's ``services``), for
the provider as an Azure SDK credential and the configuration shown on the page.

Service to service: each site's API (``/api/caller``, ``/api/admin``) accepts the Entra ID tokens for its
App ID URI (``APPAUTH["API"]`` / ``APPAUTH_API_*``) and answers with who called (``caller_answer``); each home
page calls the other site's API with its managed identity (``DOWNSTREAM_APIS``, ``appauth.api(name)``) and
shows that answer, or why there was none (``peer_calls``)."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests

from appauth_core import AppAuthError, AppAuthServices, RequestAppAuth
from appauth_core.databases import DEFAULT_RESOURCE
from appauth_core.tokens import unverified_claims

if TYPE_CHECKING:
    from appauth_core import Caller, DownstreamApi

ARM = "https://management.azure.com/"
STORAGE = "https://storage.azure.com/"
DATABASE_RESOURCE = DEFAULT_RESOURCE  # https://ossrdbms-aad.database.windows.net: Azure Database for PostgreSQL / MySQL
VISITS_SHOWN = 5
GREETING = "demo-greeting"
# The app roles each site's API defines (run.py registers them in the emulated Entra ID): the sites' managed
# identity holds READ_ROLE on both APIs, not ADMIN_ROLE, so a call to ADMIN_PATH shows a refusal.
READ_ROLE, ADMIN_ROLE = "Demo.Read", "Demo.Admin"
CALLER_PATH, ADMIN_PATH = "api/caller", "api/admin"


@dataclass
class TokenStatus:
    resource: str
    ok: bool
    audience: str = ""
    expires: str = ""
    minutes_left: int = 0
    error: str = ""


@dataclass
class ApiCall:
    """One request to the other site's API with this app's token, as the page shows it: the callee's answer
    (who it saw calling), its refusal (a 401 / 403 and its RFC 6750 error code), or why there was no answer."""

    url: str
    needs: str  # the app role the endpoint requires
    status: int = 0  # 0: no HTTP answer at all
    answered_by: str = ""
    caller: dict[str, Any] = field(default_factory=dict)
    refusal: str = ""  # "insufficient_scope", "invalid_token" ... (the callee's WWW-Authenticate error)
    error: str = ""  # no answer: the site is down, timed out, or this app got no token


@dataclass
class PeerApi:
    """A downstream API of ``DOWNSTREAM_APIS`` and the page's calls to it."""

    name: str
    base_url: str
    resource: str
    calls: list[ApiCall] = field(default_factory=list)


@dataclass
class DatabaseStatus:
    """The page's database section: a row written and read with the managed identity's token as the password
    (Django's ORM on PostgreSQL, Flask-SQLAlchemy on MariaDB), what the server says about the session, or why
    there is none."""

    engine: str  # "PostgreSQL", "MariaDB"
    server: str = ""  # host:port/database
    user: str = ""  # the session's user, as the server reports it
    version: str = ""
    tls: str = ""  # the session's TLS version / cipher, as the server reports it
    resource: str = DATABASE_RESOURCE
    visits: int = 0
    recent: list[dict[str, Any]] = field(default_factory=list)  # the newest rows: when, which worker
    error: str = ""  # the database was configured and failed
    unavailable: str = ""  # make demo started no database server: why


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
    rotation: str = ""  # how a rotation reaches this page: events (and which workers hear them) or the TTL
    peers: list[PeerApi] = field(default_factory=list)
    database: DatabaseStatus | None = None


def database_unavailable(engine: str, variable: str) -> DatabaseStatus:
    """The section when ``make demo`` started no server for this site (``variable`` says why, e.g. not
    installed) or the site runs without ``make demo``."""
    why = os.environ.get(variable, "no database is configured (make demo starts one)")
    return DatabaseStatus(engine, unavailable=why)


def database_failed(status: DatabaseStatus, error: Exception) -> DatabaseStatus:
    """The section when the database was there and the query failed: the error's type and first line
    (appauth's ``DatabaseSignInError`` names the principal and server, never the token)."""
    status.error = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300] if str(error).strip() else ''}"
    return status


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
    page.rotation = rotation_note(page.cache_seconds)
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
    page.peers = peer_calls(appauth, services)
    return page


def rotation_note(cache_seconds: int) -> str:
    """How a new version of the greeting reaches the pages, from what ``make demo`` configured: Event Grid's
    deliveries to the webhooks (``DEMO_EVENTS_AUDIENCE``), and Redis pub/sub to every gunicorn worker
    (``DEMO_REDIS_URL``); without Redis only the worker that received the event hears it."""
    ttl = f"the others show it when their cached copy is {cache_seconds} s old"
    if "DEMO_EVENTS_AUDIENCE" not in os.environ:
        return f"this page shows it within {cache_seconds} s (the cache time), without a restart."
    if "DEMO_REDIS_URL" not in os.environ:
        why = os.environ.get("DEMO_REDIS_UNAVAILABLE", "no Redis is configured")
        return (
            "A new version is delivered by Event Grid to both sites' /appauth/events/, but only the worker that "
            f"receives it drops its cached copy ({why}); {ttl}."
        )
    return (
        "A new version is delivered by Event Grid to both sites' /appauth/events/ and Redis pub/sub tells every "
        f"worker: both sites show it at once, although each caches the secret for {cache_seconds} s."
    )


def peer_calls(appauth: RequestAppAuth, services: AppAuthServices) -> list[PeerApi]:
    """Call each downstream API (the other demo site) with this app's managed identity: the endpoint whose
    role the identity holds, then (if the site answered) one whose role it does not hold (a 403, shown as such)."""
    peers = []
    for api in services.config.downstream_apis:
        session = appauth.api(api.name)
        calls = [_call(session, api.base_url, CALLER_PATH, READ_ROLE)]
        if calls[0].status:  # a site that did not answer once is not waited for twice
            calls.append(_call(session, api.base_url, ADMIN_PATH, ADMIN_ROLE))
        peers.append(PeerApi(api.name, api.base_url, api.resource, calls))
    return peers


def _call(session: DownstreamApi, base_url: str, path: str, needs: str) -> ApiCall:
    call = ApiCall(url=urljoin(base_url, path), needs=needs)
    try:
        reply = session.get(path)
    except (requests.RequestException, AppAuthError) as error:  # the page says why instead of failing
        call.error = _why(error)
        return call
    call.status = reply.status_code
    try:
        body = reply.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if reply.ok:
        call.answered_by = str(body.get("answered_by", ""))
        call.caller = body.get("caller") or {}
    else:
        call.refusal = str(body.get("error") or reply.reason)
    return call


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _why(error: Exception) -> str:
    """A line for the page: requests' connection errors wrap the cause in a long repr, whose errno is the news."""
    if isinstance(error, requests.Timeout):
        return f"{type(error).__name__}: the site did not answer in time"
    text = str(error)
    errno = _ERRNO.search(text) if isinstance(error, requests.ConnectionError) else None
    return f"{type(error).__name__}: {errno.group(0) if errno else text.splitlines()[0][:300]}"


def caller_answer(caller: Caller | None, site: str) -> dict[str, Any]:
    """What each site's API answers: who called, as the validated token says (``require_token`` set
    ``caller``). Nothing of the token itself."""
    assert caller is not None, "require_token sets the caller before the view runs"
    return {
        "answered_by": site,
        "caller": {
            "client_id": caller.client_id,
            "tenant_id": caller.tenant_id,
            "object_id": caller.object_id,
            "roles": sorted(caller.roles),
            "token_version": caller.version,
            "app_only": caller.is_app,
        },
    }


def rotate(services: AppAuthServices) -> str:
    """Write a new version of the greeting into the vault, with the site's own managed identity (the
    provider as an azure-core credential). With ``make demo``'s rotation events both sites show it at once
    (``rotation_note``), otherwise once the cached value's TTL has passed."""
    from azure.keyvault.secrets import SecretClient

    vault_url = services.config.key_vault_url
    assert vault_url, "the demo sites always configure a vault"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3] + " UTC"
    value = f"Hello from Key Vault! Rotated at {stamp}, a new version in the vault."
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
