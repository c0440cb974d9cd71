"""Managed identity: the token Azure hands to the identity of this VM, App Service, Service Fabric
application, Arc-enabled server or Cloud Shell (``RunAs=App`` in a connection string, and the first
method of the default chain). Written over ``requests``, not msal's ``ManagedIdentityClient``: why, in
docs/design.md ("Why msal, requests and a hand-written managed identity"). Which host this is and its dialect:
``managed_identity_hosts``; whether an IMDS answers at all: ``imds_probe``; reading replies:
``managed_identity_replies``.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from ..._internal import http_limits
from ..._internal.http_sessions import new_session
from ...errors import AzureServiceTokenProviderError, SourceUnavailableError
from ._base import SourceToken, TokenRequest, is_valid_resource
from ._imds_probe import imds_probe
from ._managed_identity_hosts import (
    IMDS_TOKEN_PATH,
    HostRequest,
    cache_identity,
    default_arc_key_dir,
    detect_host,
    host_request,
    normalize_thumbprint,
)
from ._managed_identity_replies import describe_reply, parse_expires_on, retry_after, seconds_of
from ._redaction import redact

# --- retry policy (Microsoft's IMDS guidance; azure-identity's numbers) ------------------------------

MAX_RETRIES = 5  # retries after the first attempt, as azure-identity's retry_total=5
BACKOFF_FACTOR = 0.8  # waits 0.8, 1.6, 3.2, 6.4, 12.8 s (24.8 s in all)
# 410 means "IMDS is being updated, back within 70 s": waits 2.5, 5, 10, 20, 40 s (77.5 s) cover it.
BACKOFF_FACTOR_410 = 2.5
RETRY_STATUSES = frozenset({404, 410, 429})
# Service Fabric's guidance says not to retry 404 (it means the identity is not configured there).
SERVICE_FABRIC_RETRY_STATUSES = frozenset({410, 429})

CONNECT_TIMEOUT = 2.0  # azure-identity's connection_timeout
READ_TIMEOUT = 15.0  # a hung endpoint must not hang the app (.NET issue #7008)

LONG_LIVED_TOKEN = 7200  # msal: refresh at half-life only tokens that live at least 2 h
ARC_KEY_MAX_BYTES = 4096  # msal: "Local key file shall not be larger than 4KB"


# --- internal failures, turned into the public errors in one place ----------------------------------


class _Failure(Exception):
    """A reason this attempt gave no token; ``get_token`` adds the context and scrubs secrets."""


class _Unavailable(_Failure):
    """The method cannot work here at all, or (``retry_after`` seconds) not yet: a chain should move on."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
        self.cache_identity = cache_identity(self.host, self.client_id)
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
        response, received_at = self._send_with_retries(host_request(self.host, resource, self.client_id))
        if response.status_code != 200:
            raise self._refused(response)
        return self._read_token(response, received_at)

    def _redact(self, text: str) -> str:
        return redact(text, self.host.secret, self._arc_key)

    def _describe_reply(self, response: requests.Response) -> str:
        return describe_reply(response, self.host.secret, self._arc_key)

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
        base, now = self.host.endpoint[: -len(IMDS_TOKEN_PATH)], self._clock()
        result = imds_probe(self._session, base, now)
        if result.reason is not None:
            wait = max(result.retry_at - now, 0.0)
            raise _Unavailable(
                f"Unable to connect to the Instance Metadata Service (IMDS) at {base} ({result.reason}): no managed "
                "identity endpoint here, so not running on an Azure VM, scale set or AKS node. Skipping "
                f"managed identity for now (IMDS is asked again in {wait:.0f} s).",
                retry_after=wait,
            )

    # --- sending, with retries ----------------------------------------------------------------------

    def _send_with_retries(self, call: HostRequest) -> tuple[requests.Response, float]:
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
            wait = retry_after(response)
            delay = wait if wait is not None else self._backoff(retry, response.status_code)
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

    def _send(self, call: HostRequest, timeout: tuple[float, float]) -> requests.Response:
        if self.host.kind == "azure_arc":
            return self._send_arc(call, timeout)
        return self._request(self._pinned_session or self._session, call, timeout)

    @staticmethod
    def _request(session: requests.Session, call: HostRequest, timeout: tuple[float, float]) -> requests.Response:
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

    def _send_arc(self, call: HostRequest, timeout: tuple[float, float]) -> requests.Response:
        challenge = self._request(self._session, call, timeout)
        if challenge.status_code != 401:
            return challenge  # a 5xx is retried by the caller; anything else is reported as it is
        self._arc_key = self._read_arc_key(challenge.headers.get("WWW-Authenticate") or "")
        return self._request(self._session, call.with_header("Authorization", f"Basic {self._arc_key}"), timeout)

    def _read_arc_key(self, www_authenticate: str) -> str:
        """The key the agent wrote for this challenge: only the file name is taken from the challenge; it must
        end in ``.key``, be a regular file (not a link) in ``arc_key_dir`` and hold at most 4096 bytes. Why:
        docs/design.md, "The Azure Arc challenge"."""
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
        expires_in = seconds_of(payload.get("expires_in"))
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
