"""Managed identity: the token Azure hands to the identity of this VM, App Service, Service Fabric
application, Arc-enabled server or Cloud Shell (``RunAs=App`` in a connection string, and the first
method of the default chain).

Written by hand over ``requests`` instead of delegating to ``msal.ManagedIdentityClient`` (msal 1.39),
because of these gaps in it:

- the App Service 2017-09-01 endpoint (``MSI_ENDPOINT``/``MSI_SECRET``) still answers ``expires_on`` as a
  date (``"11/27/2026 01:02:03 AM +00:00"``, on Linux ``"06/20/2019 02:57:58 +00:00"``); msal does
  ``int(expires_on)`` and raises ``ValueError``;
- msal does no retrying of its own ("retry is the http_client's responsibility"), so Microsoft's IMDS
  guidance (retry 404/410/429/5xx with back-off, 410 for up to 70 s, ``Retry-After``) and the .NET
  ``MsiRetryTimeout`` bound would have to be bolted onto its session, and it sets no connect/read timeouts;
- it has no cheap "is there an IMDS at all" probe, so a default chain off Azure would wait on
  169.254.169.254 before trying the Azure CLI;
- its Azure Arc flow reads keys only from the root-owned ``/var/opt/azcmagent/tokens``, so it cannot be
  tested without root.

Each host's dialect (header names, api-versions, identity parameter names, string-vs-int fields) follows
the shared research notes, protocols.md section 4, and msal's ``managed_identity.py``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import os
import re
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests

from ..._internal import fork_safety, http_limits
from ..._internal.http_sessions import new_session
from ...errors import AzureServiceTokenProviderError, SourceUnavailableError
from .._token_claims import fingerprint
from ._base import SourceToken, TokenRequest, is_valid_resource
from ._redaction import redact

HostKind = Literal["service_fabric", "app_service", "app_service_2017", "azure_arc", "cloud_shell", "imds"]

HOST_NAMES: dict[HostKind, str] = {
    "service_fabric": "Managed identity (Service Fabric)",
    "app_service": "Managed identity (App Service)",
    "app_service_2017": "Managed identity (App Service 2017-09-01)",
    "azure_arc": "Managed identity (Azure Arc)",
    "cloud_shell": "Managed identity (Cloud Shell)",
    "imds": "Managed identity (IMDS)",
}

DEFAULT_IMDS_HOST = "http://169.254.169.254"
IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token"
# Where the Arc agent listens when only its binary betrays it (msal's default).
DEFAULT_ARC_ENDPOINT = "http://localhost:40342/metadata/identity/oauth2/token"
ARC_AGENT_BINARY = "/opt/azcmagent/bin/himds"
# msal's PublicClientApplication's hard-coded Cloud Shell endpoint, for AZUREPS_HOST_ENVIRONMENT alone.
DEFAULT_CLOUD_SHELL_ENDPOINT = "http://localhost:50342/oauth2/token"

API_VERSIONS: dict[HostKind, str] = {
    "service_fabric": "2019-07-01-preview",
    "app_service": "2019-08-01",
    "app_service_2017": "2017-09-01",
    "azure_arc": "2020-06-01",
    "imds": "2018-02-01",  # what msal and azure-identity send; .NET 1.6 sent 2019-11-01
}

# How each host names the user-assigned identity's client id (App Service 2017 alone spells it "clientid").
CLIENT_ID_PARAMETERS: dict[HostKind, str] = {
    "app_service": "client_id",
    "app_service_2017": "clientid",
    "azure_arc": "client_id",
    "imds": "client_id",
}

# --- retry policy (Microsoft's IMDS guidance; azure-identity's numbers) ------------------------------

MAX_RETRIES = 5  # retries after the first attempt, as azure-identity's retry_total=5
BACKOFF_FACTOR = 0.8  # waits 0.8, 1.6, 3.2, 6.4, 12.8 s (24.8 s in all)
# 410 means "IMDS is being updated, back within 70 s": waits 2.5, 5, 10, 20, 40 s (77.5 s) cover it.
BACKOFF_FACTOR_410 = 2.5
MAX_RETRY_AFTER = 60.0  # a Retry-After beyond the guidance's 60 s maximum back-off is capped
RETRY_STATUSES = frozenset({404, 410, 429})
# Service Fabric's guidance says not to retry 404 (it means the identity is not configured there).
SERVICE_FABRIC_RETRY_STATUSES = frozenset({410, 429})

CONNECT_TIMEOUT = 2.0  # azure-identity's connection_timeout
READ_TIMEOUT = 15.0  # a hung endpoint must not hang the app (.NET issue #7008)
PROBE_CONNECT_TIMEOUT = 1.0  # azure-identity's probe; .NET used 3 s for the whole probe
PROBE_READ_TIMEOUT = 3.0
# An unanswered probe is asked again after 10 s, then 20, 40 ... up to 5 minutes: a VM whose IMDS is slow
# at boot gets its managed identity back (azure-identity probes again on every call until one succeeds).
PROBE_BACKOFF_FIRST = 10.0
PROBE_BACKOFF_MAX = 300.0

LONG_LIVED_TOKEN = 7200  # msal: refresh at half-life only tokens that live at least 2 h
ARC_KEY_MAX_BYTES = 4096  # msal: "Local key file shall not be larger than 4KB"
_MAX_DETAIL = 300  # characters of an endpoint's own error message kept in ours


# --- which host are we on ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ManagedIdentityHost:
    """The managed-identity endpoint this process should use. ``secret`` is the IDENTITY_HEADER /
    MSI_SECRET value that proves a request comes from inside the host; it is never shown."""

    kind: HostKind
    endpoint: str
    secret: str | None = field(default=None, repr=False)
    thumbprint: str | None = None  # Service Fabric: SHA-1 of the endpoint's certificate

    @property
    def name(self) -> str:
        return HOST_NAMES[self.kind]


def detect_host(environ: Mapping[str, str], *, arc_agent_installed: bool | None = None) -> ManagedIdentityHost:
    """The host the environment describes, in msal's / azure-identity's order (first match wins).

    ``arc_agent_installed`` defaults to whether ``/opt/azcmagent/bin/himds`` exists, which msal also
    accepts as "this is an Arc server" when the agent's variables are not set in this process.
    """

    def get(name: str) -> str:
        return (environ.get(name) or "").strip()

    identity_endpoint, identity_header = get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER")
    msi_endpoint, msi_secret = get("MSI_ENDPOINT"), get("MSI_SECRET")
    if identity_endpoint and identity_header and get("IDENTITY_SERVER_THUMBPRINT"):
        return ManagedIdentityHost(
            "service_fabric", identity_endpoint, identity_header, get("IDENTITY_SERVER_THUMBPRINT")
        )
    if identity_endpoint and identity_header:
        return ManagedIdentityHost("app_service", identity_endpoint, identity_header)
    if msi_endpoint and msi_secret:
        return ManagedIdentityHost("app_service_2017", msi_endpoint, msi_secret)
    if identity_endpoint and get("IMDS_ENDPOINT"):
        return ManagedIdentityHost("azure_arc", identity_endpoint)
    if arc_agent_installed is None:
        arc_agent_installed = os.path.exists(ARC_AGENT_BINARY)
    if arc_agent_installed:
        return ManagedIdentityHost("azure_arc", DEFAULT_ARC_ENDPOINT)
    if msi_endpoint:
        return ManagedIdentityHost("cloud_shell", msi_endpoint)
    if get("AZUREPS_HOST_ENVIRONMENT").lower().startswith("cloud-shell"):
        return ManagedIdentityHost("cloud_shell", DEFAULT_CLOUD_SHELL_ENDPOINT)
    base = get("AZURE_POD_IDENTITY_AUTHORITY_HOST") or DEFAULT_IMDS_HOST
    return ManagedIdentityHost("imds", base.rstrip("/") + IMDS_TOKEN_PATH)


def default_arc_key_dir() -> Path | None:
    """The folder the Arc agent writes its challenge keys to (only root and the agent may read it)."""
    if sys.platform.startswith("linux"):
        return Path("/var/opt/azcmagent/tokens")
    if sys.platform == "win32":
        return Path(os.path.expandvars(r"%ProgramData%\AzureConnectedMachineAgent\Tokens"))
    return None


# --- the IMDS probe, remembered per process ----------------------------------------------------------


@dataclass(frozen=True)
class _ProbeResult:
    """What the last probe of one IMDS found: ``reason`` None when it answered (kept for good), else why
    not, ``failures`` in a row and when (on the source's monotonic clock) to probe again."""

    reason: str | None
    failures: int = 0
    retry_at: float = 0.0


_probe_lock = threading.Lock()
_probe_results: dict[str, _ProbeResult] = {}  # IMDS base URL -> the last probe's result
fork_safety.new_lock_in_child(sys.modules[__name__], "_probe_lock")  # the results stay


def reset_imds_probe_cache() -> None:
    """Forget every probe result (tests; or after the network changed under a long-lived process)."""
    with _probe_lock:
        _probe_results.clear()


def _probe_backoff(failures: int) -> float:
    return min(PROBE_BACKOFF_FIRST * float(1 << min(failures - 1, 16)), PROBE_BACKOFF_MAX)


def _probe_imds(session: requests.Session, base_url: str) -> str | None:
    """One request, no retries, short timeouts: None when anything answers at ``base_url``, else why not.

    Sent without ``Metadata: true`` (as azure-identity does) so IMDS answers 400 at once and issues no
    token. Docker Desktop answers 403 "...unreachable network..." for link-local addresses; that is not
    an IMDS (azure-identity PRs #31824 and #33928).
    """
    url = base_url + IMDS_TOKEN_PATH
    try:
        response = session.get(
            url,
            params={"api-version": API_VERSIONS["imds"], "resource": "https://management.azure.com"},
            timeout=(PROBE_CONNECT_TIMEOUT, PROBE_READ_TIMEOUT),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return f"{type(exc).__name__}"
    except http_limits.ReplyTooLargeError:
        return None  # something answers; the token request will say what is wrong with it
    if response.status_code == 403 and "unreachable" in response.text.lower():
        return "403 from a proxy saying the network is unreachable"
    return None


# --- parsing replies ---------------------------------------------------------------------------------

# The 2017-09-01 date form, always month/day/year in the invariant culture (the .NET library parsed it
# culture-sensitively and broke under en-AU, issue #5976): "11/27/2026 01:02:03 AM +00:00" (Windows) or
# "06/20/2019 02:57:58 +00:00" (Linux, 24-hour clock).
_LEGACY_DATE = re.compile(
    r"^(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4})\s+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:\s*(?P<ampm>[AaPp][Mm]))?"
    r"\s*(?P<sign>[+-])(?P<tzh>\d{2}):?(?P<tzm>\d{2})$"
)


def _number(value: Any) -> float | None:
    """Seconds given as a JSON number or as a string of digits (IMDS sends every number as a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_expires_on(value: Any) -> float:
    """Epoch seconds from any host's ``expires_on``: a number, a string of digits, or the 2017-09-01 date
    forms. No locale is consulted (strptime's ``%p`` would). Raises ``ValueError`` for anything else."""
    number = _number(value)
    if number is not None:
        return number
    match = _LEGACY_DATE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expires_on is neither epoch seconds nor a date like '06/20/2019 02:57:58 +00:00'")
    hour = int(match["hour"])
    if match["ampm"]:
        # 12-hour clock: 12 AM is midnight, 12 PM noon; the docs' sample "00:00:00 PM" is read as noon.
        hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    offset = dt.timedelta(hours=int(match["tzh"]), minutes=int(match["tzm"]))
    zone = dt.timezone(offset if match["sign"] == "+" else -offset)
    try:
        day = dt.date(int(match["year"]), int(match["month"]), int(match["day"]))
        moment = dt.time(hour, int(match["minute"]), int(match["second"]), tzinfo=zone)
    except ValueError as exc:  # 13/40/2019, 25:61:00 ...
        raise ValueError(f"expires_on is not a valid date ({exc})") from None
    return dt.datetime.combine(day, moment).timestamp()


def _endpoint_message(payload: Any) -> str | None:
    """The endpoint's own words from an error reply, in whichever host's shape it came:
    IMDS/Arc ``{"error", "error_description"}``, App Service ``{"statusCode", "message"}``,
    Service Fabric and Cloud Shell ``{"error": {"code", "message"}}``."""
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict):
        parts = [str(error.get(key)) for key in ("code", "message") if error.get(key)]
        return ": ".join(parts) or None
    parts = [str(p) for p in (error, payload.get("error_description") or payload.get("message")) if p]
    return ": ".join(parts) or None


def _describe_reply(response: requests.Response, *secrets: str | None) -> str:
    """``503 (unknown: Service unavailable)``, or the body's type and size when it is not JSON (the body
    itself could be anything: a proxy's HTML page, binary garbage, half a token).

    ``secrets`` (the identity header, the Arc key) are redacted from the endpoint's words before they are
    shortened: afterwards, a secret cut in two would leave its first characters behind."""
    if not response.content:
        return f"{response.status_code} (empty body)"
    try:
        message = _endpoint_message(json.loads(response.content))
    except (ValueError, UnicodeDecodeError):
        content_type = response.headers.get("Content-Type") or "no content type"
        return f"{response.status_code} with a body that is not JSON ({content_type}, {len(response.content)} bytes)"
    if not message:
        return str(response.status_code)
    message = " ".join(redact(message, *secrets).split())
    if len(message) > _MAX_DETAIL:
        message = message[:_MAX_DETAIL] + "..."
    return f"{response.status_code} ({message})"


def _retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    seconds = _number(value)
    if seconds is None:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


# --- Service Fabric certificate pinning --------------------------------------------------------------


def normalize_thumbprint(thumbprint: str) -> str | None:
    """40 lower-case hex digits, or None when ``thumbprint`` is not a SHA-1 thumbprint."""
    digits = "".join(ch for ch in thumbprint if ch not in " \t\r\n:").lower()
    return digits if re.fullmatch(r"[0-9a-f]{40}", digits) else None


# --- internal failures, turned into the public errors in one place ----------------------------------


class _Failure(Exception):
    """A reason this attempt gave no token; ``get_token`` adds the context and scrubs secrets."""


class _Unavailable(_Failure):
    """The method cannot work here at all, or (``retry_after`` seconds) not yet: a chain should move on."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Call:
    """One HTTP request in a host's dialect."""

    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    data: dict[str, str] | None = None

    def with_header(self, name: str, value: str) -> _Call:
        return _Call(self.method, self.url, self.params, {**self.headers, name: value}, self.data)


# --- the source -----------------------------------------------------------------------------------


class ManagedIdentitySource:
    """A token for this host's managed identity: system-assigned, or user-assigned by ``client_id``.

    The environment (``environ``, default ``os.environ``) is read once, here, at construction: the host
    does not change under a running process, and ``name`` must keep saying which host a later error
    came from. ``cache_identity`` holds everything that selects whose token the host gives: the host
    kind, its endpoint, the client id, a fingerprint of the identity header (never the header) and the
    Service Fabric thumbprint; two endpoints never share a cached token.

    ``retry_timeout``: seconds the whole retry loop may take (.NET's ``MsiRetryTimeout``; None or 0 =
    unbounded, then up to 5 retries with back-off). ``probe``: check that an IMDS answers at all before
    asking it for a token (the default chain sets it, so that off Azure it moves on at once; only IMDS is
    probed, the other hosts are announced by their variables). An answer is remembered for the process,
    no answer only until the back-off (10 s doubling to 5 min) has passed. ``arc_key_dir``:
    the one folder Arc challenge keys are read from (default: the agent's own folder). ``session``: the
    ``requests`` session for every host but Service Fabric, which always gets its own pinned one; the
    default one keeps appauth's reply limits (``http_sessions.new_session``), a session given is used as
    it is.
    """

    connect_timeout = CONNECT_TIMEOUT
    read_timeout = READ_TIMEOUT

    def __init__(
        self,
        client_id: str | None = None,
        *,
        retry_timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        probe: bool = False,
        arc_key_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if retry_timeout is not None and (retry_timeout < 0 or not math.isfinite(retry_timeout)):
            raise ValueError(f"retry_timeout must be a number of seconds >= 0, got {retry_timeout!r}")
        self.client_id = client_id.strip() if client_id and client_id.strip() else None
        self.retry_timeout = retry_timeout or None
        self.host = detect_host(os.environ if environ is None else environ)
        self.name = self.host.name
        self.cache_identity = _cache_identity(self.host, self.client_id)
        self.arc_key_dir = Path(arc_key_dir) if arc_key_dir is not None else default_arc_key_dir()
        self._probe = probe
        self._owns_session = session is None
        self._session = session or self._default_session()
        # Service Fabric's endpoint presents a cluster certificate no public CA signed; the platform names its
        # SHA-1 in IDENTITY_SERVER_THUMBPRINT, which becomes the session's only trust anchor (checked to be a
        # valid thumbprint before its first use).
        self._pinned_session = (
            new_session(
                max_bytes=http_limits.TOKEN_REPLY_MAX_BYTES,
                pinned_sha1=normalize_thumbprint(self.host.thumbprint or "") or "",
            )
            if self.host.kind == "service_fabric"
            else None
        )
        self._arc_key: str | None = None  # the last key read, only to scrub it from messages
        # Seams for tests: back-off without real waiting, and the clock the retry_timeout is measured on.
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        return f"ManagedIdentitySource(client_id={self.client_id!r}, host={self.host.kind!r})"

    @staticmethod
    def _default_session() -> requests.Session:
        # Never through a proxy: IMDS refuses forwarded requests, and the other endpoints are local (the
        # .NET library also set Proxy = null). Nothing here is https, so no CA bundle is needed either.
        return new_session(max_bytes=http_limits.TOKEN_REPLY_MAX_BYTES, use_environment=False)

    def close(self) -> None:
        """Close the HTTP connections this source opened (not those of a session it was given)."""
        if self._owns_session:
            self._session.close()
        if self._pinned_session is not None:
            self._pinned_session.close()

    @property
    def identity_label(self) -> str:
        return (
            f"user-assigned identity with client ID '{self.client_id}'"
            if self.client_id
            else "system-assigned identity"
        )

    # --- TokenSource ---------------------------------------------------------------------------------

    def get_token(self, request: TokenRequest) -> SourceToken:
        context: dict[str, Any] = {"resource": request.resource, "method": self.name}
        try:
            return self._get_token(request.resource)
        except _Unavailable as exc:
            raise SourceUnavailableError(
                self._redact(str(exc)), retry_after=exc.retry_after, **context
            ) from exc.__cause__
        except _Failure as exc:
            raise AzureServiceTokenProviderError(self._redact(str(exc)), **context) from exc.__cause__

    def _get_token(self, resource: str) -> SourceToken:
        if not is_valid_resource(resource):
            raise _Failure(
                f"'{resource}' is not a valid resource: pass a resource URI such as https://vault.azure.net."
            )
        self._check_host_supports_request()
        if self._probe and self.host.kind == "imds":
            self._ensure_imds_answers()
        response, received_at = self._send_with_retries(self._call(resource))
        if response.status_code != 200:
            raise self._refused(response)
        return self._read_token(response, received_at)

    def _redact(self, text: str) -> str:
        return redact(text, self.host.secret, self._arc_key)

    def _describe_reply(self, response: requests.Response) -> str:
        return _describe_reply(response, self.host.secret, self._arc_key)

    # --- what each host accepts ---------------------------------------------------------------------

    def _check_host_supports_request(self) -> None:
        kind = self.host.kind
        if self.client_id and kind in ("service_fabric", "cloud_shell"):
            where = "the application manifest" if kind == "service_fabric" else "Cloud Shell's own sign-in"
            raise _Failure(
                f"{self.name} cannot choose a user-assigned identity per request (the identity comes from "
                f"{where}); remove the client ID (AppId) to use the identity the host gives."
            )
        if kind == "service_fabric":
            if not self.host.endpoint.lower().startswith("https://"):
                raise _Failure(f"IDENTITY_ENDPOINT must be an https URL on Service Fabric, got '{self.host.endpoint}'.")
            if normalize_thumbprint(self.host.thumbprint or "") is None:
                raise _Failure("IDENTITY_SERVER_THUMBPRINT is not a SHA-1 certificate thumbprint (40 hex digits).")

    def _ensure_imds_answers(self) -> None:
        base = self.host.endpoint[: -len(IMDS_TOKEN_PATH)]
        with _probe_lock:  # one probe per base URL even when many threads start at once
            result, now = _probe_results.get(base), self._clock()
            if result is None or (result.reason is not None and now >= result.retry_at):
                failures = result.failures if result is not None else 0
                reason = _probe_imds(self._session, base)
                retry_at = now + _probe_backoff(failures + 1) if reason is not None else 0.0
                result = _ProbeResult(reason, failures + 1 if reason is not None else 0, retry_at)
                _probe_results[base] = result
        if result.reason is not None:
            wait = max(result.retry_at - now, 0.0)
            raise _Unavailable(
                f"Unable to connect to the Instance Metadata Service (IMDS) at {base} ({result.reason}): no managed "
                "identity endpoint here, so not running on an Azure VM, scale set or AKS node. Skipping "
                f"managed identity for now (IMDS is asked again in {wait:.0f} s).",
                retry_after=wait,
            )

    def _call(self, resource: str) -> _Call:
        kind, host = self.host.kind, self.host
        if kind == "cloud_shell":  # a form POST, unlike every other host
            return _Call("POST", host.endpoint, {}, {"Metadata": "true"}, data={"resource": resource})
        params = {"api-version": API_VERSIONS[kind], "resource": resource}
        if self.client_id:
            params[CLIENT_ID_PARAMETERS[kind]] = self.client_id
        headers = {
            "service_fabric": {"Secret": host.secret or ""},
            "app_service": {"X-IDENTITY-HEADER": host.secret or "", "Metadata": "true"},
            "app_service_2017": {"secret": host.secret or ""},
            "azure_arc": {"Metadata": "true"},
            "imds": {"Metadata": "true"},  # lower-case "true": IMDS compares it exactly
        }[kind]
        return _Call("GET", host.endpoint, params, headers)

    # --- sending, with retries ----------------------------------------------------------------------

    def _send_with_retries(self, call: _Call) -> tuple[requests.Response, float]:
        """The first reply that is not worth retrying, with the time it was asked for (epoch seconds;
        counting a lifetime from before the request errs on the early side).

        Retries 404/410/429/5xx and broken connections up to ``MAX_RETRIES`` times, waiting
        ``Retry-After`` when given, else ``factor * 2**n``. 400 is never retried: IMDS and App Service
        mean "no such identity" or "bad request" by it, and asking again will not change that. Each attempt
        ends, whole reply read, within its connect and read timeouts added up, or what is left of
        ``retry_timeout`` when that is less (``http_limits``); a reply over 64 KiB is refused, not retried.
        """
        deadline = self._clock() + self.retry_timeout if self.retry_timeout else None
        problem, delay = "", 0.0
        for retry in range(MAX_RETRIES + 1):
            if retry:
                self._wait(delay, deadline, problem)
            timeout = self._timeout(deadline, problem)
            sent_at = time.time()
            try:
                with http_limits.deadline(self._attempt_seconds(timeout, deadline)):
                    response = self._send(call, timeout)
            except http_limits.ReplyTooLargeError as exc:
                raise _Failure(f"The endpoint's reply cannot be used: {exc}.") from None
            except requests.exceptions.SSLError as exc:
                raise self._tls_failure(exc) from exc
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                problem, delay = _transport_problem(exc), self._backoff(retry, None)
                continue
            except requests.RequestException as exc:  # a bad URL or header value: retrying cannot help
                # No chaining: requests quotes a refused header value, which may be the identity secret.
                raise _Failure(
                    f"Cannot send a request to {self.host.endpoint} ({type(exc).__name__}); check the "
                    "managed identity variables (IDENTITY_ENDPOINT, MSI_ENDPOINT, ...) the host set."
                ) from None
            if not self._is_retryable(response.status_code):
                return response, sent_at
            problem = f"the endpoint answered {self._describe_reply(response)}"
            retry_after = _retry_after(response)
            delay = retry_after if retry_after is not None else self._backoff(retry, response.status_code)
        raise self._exhausted(problem)

    def _is_retryable(self, status: int) -> bool:
        statuses = SERVICE_FABRIC_RETRY_STATUSES if self.host.kind == "service_fabric" else RETRY_STATUSES
        return status in statuses or 500 <= status <= 599

    @staticmethod
    def _backoff(retry: int, status: int | None) -> float:
        return (BACKOFF_FACTOR_410 if status == 410 else BACKOFF_FACTOR) * (1 << retry)

    def _timeout(self, deadline: float | None, problem: str) -> tuple[float, float]:
        """Connect and read timeouts for one attempt, shortened so no attempt outlives ``retry_timeout``."""
        if deadline is None:
            return self.connect_timeout, self.read_timeout
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise self._timed_out(problem)
        return min(self.connect_timeout, remaining), min(self.read_timeout, remaining)

    def _attempt_seconds(self, timeout: tuple[float, float], deadline: float | None) -> float:
        """The wall-clock bound of one attempt: a reply trickling in never trips a read timeout."""
        seconds = timeout[0] + timeout[1]
        return seconds if deadline is None else min(seconds, max(deadline - self._clock(), 0.0))

    def _wait(self, delay: float, deadline: float | None, problem: str) -> None:
        if deadline is not None and self._clock() + delay > deadline:
            raise self._timed_out(problem)  # waiting would overrun the bound: give up now, not later
        self._sleep(delay)

    def _send(self, call: _Call, timeout: tuple[float, float]) -> requests.Response:
        if self.host.kind == "azure_arc":
            return self._send_arc(call, timeout)
        return self._request(self._pinned_session or self._session, call, timeout)

    @staticmethod
    def _request(session: requests.Session, call: _Call, timeout: tuple[float, float]) -> requests.Response:
        return session.request(
            call.method,
            call.url,
            params=call.params,
            headers=call.headers,
            data=call.data,
            timeout=timeout,
            allow_redirects=False,  # a redirect would carry the secret header to wherever it points
        )

    # --- Azure Arc: a 401 challenge names a key file only a local administrator can read ------------

    def _send_arc(self, call: _Call, timeout: tuple[float, float]) -> requests.Response:
        challenge = self._request(self._session, call, timeout)
        if challenge.status_code != 401:
            return challenge  # a 5xx is retried by the caller; anything else is reported as it is
        self._arc_key = self._read_arc_key(challenge.headers.get("WWW-Authenticate") or "")
        return self._request(self._session, call.with_header("Authorization", f"Basic {self._arc_key}"), timeout)

    def _read_arc_key(self, www_authenticate: str) -> str:
        """The key the agent wrote for this challenge, read only from ``arc_key_dir``.

        Security: the challenge comes from whatever listens on the local Arc port, which any local user
        could occupy while the agent is down. Reading the path it names would let that user make us read
        any file we can (a private key, /etc/shadow when root) and send it to them in the Authorization
        header. So, like msal, only the file name is taken from the challenge; it must end in ``.key``, be a
        regular file (not a link) in the agent's own folder, and hold at most 4096 bytes.
        """
        match = re.fullmatch(r'\s*basic\s+realm\s*=\s*"?([^"]+?)"?\s*', www_authenticate, flags=re.IGNORECASE)
        if match is None:
            raise _Failure(
                "Azure Arc answered 401 without the expected 'WWW-Authenticate: Basic realm=<key file>' "
                "challenge; is IDENTITY_ENDPOINT the Arc agent (himds)? Check `azcmagent show`."
            )
        file_name = re.split(r"[\\/]", match.group(1))[-1]
        if self.arc_key_dir is None:
            raise _Failure(f"Azure Arc managed identity is not supported on this platform ({sys.platform}).")
        if not file_name.endswith(".key") or file_name == ".key":
            raise _Failure(f"Azure Arc's challenge names '{file_name}', not a .key file; refusing to read it.")
        return _read_small_regular_file(self.arc_key_dir / file_name)

    # --- reading the reply --------------------------------------------------------------------------

    def _read_token(self, response: requests.Response, received_at: float) -> SourceToken:
        try:
            payload = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise _Failure(
                f"The endpoint answered {self._describe_reply(response)} instead of a token: the endpoint (or a "
                "proxy in front of it) is misbehaving. Try again later; if it persists, restart the app or host."
            ) from None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:  # an empty one too: it is no token
            raise _Failure("The endpoint answered 200 but with no access_token in the reply.")
        self._check_identity_echo(payload)
        expires_on = self._expiry(payload, received_at)
        token_type = payload.get("token_type")
        if self.host.kind == "service_fabric" and not token_type:
            raise _Failure("Service Fabric answered without token_type, which its protocol requires.")
        lifetime = expires_on - received_at
        return SourceToken(
            access_token=payload["access_token"],
            expires_on=expires_on,
            token_type=str(token_type or "Bearer"),
            refresh_on=received_at + lifetime / 2 if lifetime >= LONG_LIVED_TOKEN else None,
        )

    @staticmethod
    def _expiry(payload: Mapping[str, Any], received_at: float) -> float:
        """``expires_in`` counted from our own clock when the host sends it (IMDS, Arc, Cloud Shell: immune
        to clock skew), else ``expires_on`` in any form the hosts use."""
        expires_in = _number(payload.get("expires_in"))
        if expires_in is not None:
            return received_at + expires_in
        if payload.get("expires_on") is None:
            raise _Failure("The endpoint's reply has neither expires_in nor expires_on.")
        try:
            return parse_expires_on(payload["expires_on"])
        except ValueError as exc:
            raise _Failure(f"ExpiresOn in token response could not be parsed: {exc}.") from None

    def _check_identity_echo(self, payload: Mapping[str, Any]) -> None:
        """Fail closed when the host gave a token for another identity than the one asked for. Arc must
        echo the client id: an old agent ignores it and silently hands out the system identity (msal)."""
        if not self.client_id:
            return
        echoed = payload.get("client_id")
        if echoed is None and self.host.kind != "azure_arc":
            return
        if str(echoed or "").lower() != self.client_id.lower():
            raise _Failure(
                f"Asked for the {self.identity_label} but the endpoint did not confirm it "
                f"(it answered for client ID '{echoed or 'not given'}'). Refusing a token for another identity; "
                "on Azure Arc, update the agent (`azcmagent version`) to one that supports user-assigned identities."
            )

    # --- error messages ------------------------------------------------------------------------------

    def _refused(self, response: requests.Response) -> _Failure:
        """A non-retryable error reply: what the endpoint said and what to do."""
        reply = self._describe_reply(response)
        status = response.status_code
        if status == 400:
            message = (
                f"Received a non-retryable error: the endpoint answered {reply}. No {self.identity_label} is "
                f"{'assigned to' if self.client_id else 'enabled on'} this resource, or the request was not "
                f"understood. {self._assign_hint()}"
            )
            # In the default chain, a VM without an identity is "not here": let the chain try the next method.
            return _Unavailable(message) if self._probe and self.host.kind == "imds" else _Failure(message)
        if status in (401, 403):
            return _Failure(f"Received a non-retryable error: the endpoint answered {reply}. {self._secret_hint()}")
        return _Failure(
            f"Received a non-retryable error: the endpoint answered {reply}. Check that the managed identity "
            "is enabled on this resource and that the resource URI is right."
        )

    def _assign_hint(self) -> str:
        what = f"Assign the identity with client ID {self.client_id}" if self.client_id else "Enable it"
        where = {
            "imds": "`az vm identity assign` (or on the scale set / AKS node pool)",
            "app_service": "`az webapp identity assign` (or functionapp)",
            "app_service_2017": "`az webapp identity assign` (or functionapp)",
            "azure_arc": "the Arc server's identity settings",
        }.get(self.host.kind, "the resource's Identity settings")
        fix = "or fix the client ID (AppId)" if self.client_id else "or give the client ID of a user-assigned identity"
        return f"{what} with {where}, {fix}."

    def _secret_hint(self) -> str:
        return {
            "service_fabric": "The Secret header was refused: IDENTITY_HEADER is set by Service Fabric; do not "
            "override it, and restart the application if the cluster rotated it.",
            "app_service": "The X-IDENTITY-HEADER was refused: IDENTITY_HEADER is set by App Service; do not "
            "override it (e.g. in app settings) and restart the app.",
            "app_service_2017": "The secret header was refused: MSI_SECRET is set by the platform; do not "
            "override it and restart the app.",
            "azure_arc": "The Arc agent refused the challenge key: check the agent with `azcmagent show` and "
            "that this process may read its token folder (members of 'himds' group or administrators).",
        }.get(self.host.kind, "Check that this process runs inside the host that issued the identity.")

    def _exhausted(self, problem: str) -> _Failure:
        if problem.startswith("the endpoint answered"):
            return _Failure(
                f"Failed after {MAX_RETRIES} retries; {problem}. The endpoint may be updating or overloaded: "
                "try again later, or set MsiRetryTimeout to wait longer."
            )
        return _Failure(
            f"Failed after {MAX_RETRIES} retries ({problem}). Unable to connect to the Managed Service Identity "
            f"(MSI) endpoint at {self.host.endpoint}. Please check that you are running on an Azure resource "
            "that has MSI setup."
        )

    def _timed_out(self, problem: str) -> _Failure:
        last = f" Last problem: {problem}." if problem else ""
        return _Failure(
            f"Reached retry timeout limit set by MsiRetryTimeout parameter in connection string "
            f"({self.retry_timeout:g} s) while asking {self.host.endpoint}.{last} Raise MsiRetryTimeout, or check "
            "the endpoint."
        )

    def _tls_failure(self, exc: requests.exceptions.SSLError) -> _Failure:
        if self.host.kind == "service_fabric":
            return _Failure(
                "The Service Fabric endpoint's certificate does not match IDENTITY_SERVER_THUMBPRINT (or the TLS "
                "handshake failed); the identity secret was not sent. Check the cluster certificate and that "
                "IDENTITY_ENDPOINT is the cluster's managed identity token service."
            )
        return _Failure(f"TLS to {self.host.endpoint} failed ({type(exc).__name__}); check the endpoint URL.")


def _cache_identity(host: ManagedIdentityHost, client_id: str | None) -> str:
    """``msi:<client id or system>@<kind>:<endpoint>``, plus the identity header's fingerprint and the
    Service Fabric thumbprint when the host has them: whatever selects whose token the host hands out."""
    identity = f"msi:{client_id.lower() if client_id else 'system'}@{host.kind}:{host.endpoint}"
    if host.secret:
        identity += f";header={fingerprint(host.secret)}"
    if host.thumbprint:
        identity += f";thumbprint={normalize_thumbprint(host.thumbprint) or host.thumbprint}"
    return identity


def _transport_problem(exc: requests.RequestException) -> str:
    if isinstance(exc, http_limits.DeadlineExceededError):
        return "the endpoint did not answer in time (no whole reply within the attempt's deadline)"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke before the whole reply arrived"
    if isinstance(exc, requests.Timeout):
        return "the endpoint did not answer in time"
    return "the endpoint could not be reached"


def _read_small_regular_file(path: Path) -> str:
    """The stripped text of ``path`` if it is a regular file of at most ``ARC_KEY_MAX_BYTES``; the size is
    checked before reading (msal: "Check size BEFORE loading its content")."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _Failure(f"Azure Arc's key {path} is not a regular file; refusing to read it.")
        if info.st_size > ARC_KEY_MAX_BYTES:
            raise _Failure(f"Azure Arc's key {path} is larger than {ARC_KEY_MAX_BYTES} bytes; refusing to read it.")
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _Failure(
            f"Cannot read Azure Arc's key {path} ({exc.strerror or type(exc).__name__}): run as a member of the "
            "'himds' group (Linux) or as an administrator (Windows)."
        ) from None
