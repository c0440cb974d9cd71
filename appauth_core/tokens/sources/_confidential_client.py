"""msal confidential clients, shared by every source that signs in as an app: the client secret, the
certificate (store and Key Vault) and workload identity sources.

Why one module for them: each of those sources needs the same four things, and they must behave alike.

- One msal ``ConfidentialClientApplication`` per authority and credential (``ConfidentialClients``),
  built on first use and kept, because building one fetches the authority's OpenID configuration and
  msal's throttling state lives in it.
- msal's own token store turned off (``_NothingStored``). The provider's cache is the first line: it
  calls a source only on a miss or for ``force_refresh``, and either way the call must reach Entra ID. A
  token msal had kept would be the wrong answer, and msal refuses ``force_refresh`` for client
  credentials, so the only way to honour it is for msal to keep nothing.
- Entra ID's AADSTS error replies turned into one-line messages that say how to fix them
  (``describe_error_reply``), with any secret scrubbed from text that comes from outside (``scrub``).
- Transient failures (a 429 or 5xx, a refused or timed-out connection) retried a bounded number of times by
  urllib3's ``Retry`` below msal (``_TransientRetry``), not by a loop of our own.

Why msal and not hand-written HTTP: msal already knows the token endpoint's dialects (discovery, client
assertions, throttling, ``refresh_in``). ``instance_discovery=False`` and ``validate_authority=False``
because sovereign clouds, Azure Stack and the local emulator are not on msal's list of known hosts, and
instance discovery would call the public cloud from an air-gapped one.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import msal  # type: ignore[import-untyped,unused-ignore]
import requests
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from ..._internal import fork_safety, http_limits
from ..._internal.frame_locals import withhold_tracebacks
from ..._internal.http_sessions import new_session
from ..._internal.http_trust import CERT_HAS_EXPIRED, HOSTNAME_MISMATCH, ca_bundle_advice, causes
from ...errors import TokenEndpointError
from ._base import SourceToken, TokenRequest, is_valid_tenant
from ._redaction import redact

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

# msal logs a token reply it cannot read, and a failed signature, with the traceback of frames that hold the
# form it posted (client secret, assertion) or the private key: those records keep their message only.
withhold_tracebacks("msal.oauth2cli.oauth2", "msal.oauth2cli.assertion")

# How long the token endpoint may keep a connection attempt or a read waiting: a hung endpoint must not hang
# the app (the .NET library had no such bound, issue #7008). The whole call, however the endpoint trickles its
# reply and however often it is retried, ends within http_limits.DEFAULT_DEADLINE.
HTTP_TIMEOUT_SECONDS = 30

# Transient failures of Entra ID are retried (``_TransientRetry``), as azure-identity does with azure-core's
# RetryPolicy: at most RETRIES more attempts, so at most three, each bounded by HTTP_TIMEOUT_SECONDS, and none
# started once the call's deadline is too near.
RETRIES = 2
# urllib3's back-off: none before the first retry, then RETRY_BACKOFF_FACTOR * 2 (1 s).
RETRY_BACKOFF_FACTOR = 0.5
# The longest Retry-After waited for before a retry. Entra asks for longer when it throttles an app for
# minutes; then the caller gets the 429 now (and msal refuses to repeat the request for that long).
MAX_RETRY_AFTER_SECONDS = 5.0
# 429 (throttled) and the 5xx a gateway or an overloaded front end answers; never 400 or 401, which carry an
# AADSTS error that asking again does not fix.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# msal applications kept per ConfidentialClients (one per authority, that is per tenant, and credential), the
# least recently used going first. One holds its OpenID configuration, msal's throttling state and a session
# with a pooled TLS connection: about 46 KiB (tracemalloc, over 50 tenants) and a file descriptor. 64 keep 3 MiB
# and 64 sockets at most, where an app asking for tokens in tenants its callers name grew without end; a
# tenant beyond them costs one OpenID configuration round trip when its token is next fetched, about once an
# hour per tenant since the provider caches the token.
MAX_APPS = 64

# A client secret, or msal's dict form: a certificate (``private_key``, ``thumbprint`` ...) or a
# ``client_assertion`` (a JWT, or a callable msal calls each time it needs one).
MsalCredential = str | Mapping[str, str | Callable[[], str]]


@dataclass(frozen=True)
class Credential:
    """What msal signs in with. ``key`` tells credentials apart in the app cache without holding the secret
    twice; ``label`` is how errors name it ("client secret", "certificate 5A1B..."); never the secret."""

    key: str
    label: str
    value: MsalCredential = field(repr=False)


@dataclass(frozen=True)
class FailureContext:
    """What a fix hint may mention: the configuration, never a secret. ``names``: what the user calls the
    connection string's ``AppId``, ``TenantId`` and ``AppKey`` where they came from elsewhere (the
    environment's ``AZURE_CLIENT_ID`` ...)."""

    app_id: str
    tenant: str
    resource: str
    credential_label: str
    names: Mapping[str, str] = field(default_factory=dict, compare=False)

    def name(self, key: str) -> str:
        """The connection-string key ``key`` as the user wrote it."""
        return self.names.get(key, key)


Hint = Callable[[FailureContext], str]


# --- AADSTS codes -> how to fix --------------------------------------------------------------------

_HINTS: dict[int, Hint] = {
    7000215: lambda c: (
        f"The {c.name('AppKey')} is wrong or expired: use the client secret's value, not its ID (Secret ID), and "
        "check in the app registration's 'Certificates & secrets' that it has not expired."
    ),
    7000222: lambda c: (
        f"The {c.name('AppKey')} has expired: create a new client secret for the app and update {c.name('AppKey')}."
    ),
    700016: lambda c: (
        f"{c.name('AppId')} {c.app_id} not found in tenant {c.tenant}: check {c.name('AppId')}, and that "
        f"{c.name('TenantId')} is the tenant the app is registered in (or has been consented to)."
    ),
    700027: lambda c: (
        f"Entra ID does not accept the {c.credential_label}: upload its public part (.cer) to the app "
        f"registration of {c.app_id} under 'Certificates & secrets', or check the private key belongs to it."
    ),
    700024: lambda c: "The client assertion's times were refused: check this machine's clock.",
    7000112: lambda c: f"The application {c.app_id} is disabled in tenant {c.tenant}.",
    1002012: lambda c: f"'{c.resource}' is not a valid resource: pass a resource URI such as https://vault.azure.net.",
    500011: lambda c: (
        f"The resource '{c.resource}' is not known in tenant {c.tenant}: check the resource URI (mind a trailing "
        "slash) and that the API exists in that tenant."
    ),
    90002: lambda c: (
        f"Tenant {c.tenant} not found: check {c.name('TenantId')} (a GUID or a verified domain) and the cloud."
    ),
}


def scrub(text: str, credential: Credential) -> str:
    """``text`` from outside (Entra's reply, an exception) without a client secret in it. Only outside text
    is scrubbed: replacing a short secret in our own hints would mangle them ("The AppKey is <<Redacted>>")."""
    secret = credential.value
    return redact(text, secret if isinstance(secret, str) else None)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def describe_error_reply(result: Mapping[str, Any], context: FailureContext) -> str:
    """One line from msal's error dict: Entra's own words (AADSTS code and description), the ids support asks
    for, and a fix. Entra never echoes the secret, and this reads only the error fields."""
    codes = _error_codes(result)
    description = _first_line(str(result.get("error_description") or "")) or str(result.get("error") or "unknown")
    ids = ", ".join(
        f"{label}: {result[key]}"
        for key, label in (("trace_id", "Trace ID"), ("correlation_id", "Correlation ID"))
        if result.get(key)
    )
    hints = [_HINTS[code](context) for code in codes if code in _HINTS]
    if not hints and result.get("error_uri"):
        hints.append(f"See {result['error_uri']}.")
    return " ".join(part for part in (description, f"({ids})" if ids else "", *hints) if part)


# --- msal applications ---------------------------------------------------------------------------


class _NothingStored(msal.TokenCache):  # type: ignore[misc,unused-ignore]
    """msal's token cache with storing turned off, so every ``get_token`` reaches Entra ID.

    A source caches nothing (``TokenSource`` contract): the provider's cache sits in front and calls the
    source only on a miss or for ``force_refresh``, and a token msal kept would defeat ``force_refresh``
    (msal refuses ``force_refresh`` for client credentials). msal's ``SerializableTokenCache`` overrides
    ``add`` the same way.
    """

    def __init__(self) -> None:
        super().__init__()
        fork_safety.new_lock_in_child(self)  # msal's own RLock: a thread reading the cache may hold it at a fork

    def add(self, event: dict[str, Any], now: float | None = None) -> None:
        return None


class _TransientRetry(Retry):
    """urllib3's ``Retry`` for Entra ID's token endpoint and OpenID configuration: which failures are transient,
    and a cap on ``Retry-After``. Without it one 503 or 429 at a cold start, or once a token has expired, was an
    error for the app, where azure-identity (azure-core's RetryPolicy) would have asked again.

    Why urllib3's policy and not a loop of our own: requests' ``HTTPAdapter`` already applies it below msal, and
    its counters, back-off and ``Retry-After`` parsing (seconds or an HTTP date) are well tried. A loop around
    msal would see only msal's "HTTP Error: 503" and have to redo all three.

    What is retried (``transient()``): a connection refused or timed out, and a read that timed out or broke
    off, once more each (each may cost a whole ``HTTP_TIMEOUT_SECONDS``); a 429, 500, 502, 503 or 504 up to
    ``RETRIES`` times. POST too: a client-credentials request changes nothing at Entra, asking twice gives two
    tokens. Not retried: TLS and proxy errors (``other=0``), other statuses (400 and 401 carry AADSTS errors),
    and a body cut off mid-way (requests reads bodies after urllib3 has returned, out of this policy's reach).

    How it sits with msal: msal's ``ThrottledHttpClient`` wraps this session and sees only the last response
    (``raise_on_status=False``), so msal's error handling and ours see what they saw before. msal then keeps a
    final 429 or 5xx for its Retry-After (5 s without one, at most an hour) and answers the same request with it
    meanwhile. The two do not overlap: this policy retries within one call, msal's throttle keeps the calls
    after it off a failing endpoint.

    What differs from urllib3's own: a Retry-After above ``MAX_RETRY_AFTER_SECONDS`` ends the retries instead
    of being slept (urllib3 sleeps as long as asked, up to six hours in 2.x, and clamping it would ask again
    sooner than Entra allowed), and a Retry-After urllib3 cannot parse means the usual back-off instead of an exception.
    """

    @classmethod
    def transient(cls) -> _TransientRetry:
        return cls(
            total=RETRIES,
            connect=1,
            read=1,
            other=0,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "POST"}),
            backoff_factor=RETRY_BACKOFF_FACTOR,
            raise_on_status=False,
        )

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        try:
            return super().get_retry_after(response)
        except InvalidHeader:  # "Retry-After: soon": urllib3 raises, which would end the call
            return None

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        retry_after = self.get_retry_after(response) if response is not None else None
        left = http_limits.remaining()
        if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
            reason = ResponseError(f"Retry-After {retry_after:g} s is over {MAX_RETRY_AFTER_SECONDS:g} s")
        elif left is not None and left <= (retry_after or 0.0):
            reason = ResponseError("no time left before the deadline for another attempt")
        else:
            return super().increment(method, url, response, error, _pool, _stacktrace)
        # What urllib3 raises when the retries run out; with raise_on_status=False it returns the response.
        raise MaxRetryError(cast("ConnectionPool", _pool), url, reason)


def _msal_session() -> requests.Session:
    """msal's HTTP client, as msal builds its own (a timeout), except that redirects are not followed, plain
    http is refused, replies keep appauth's limits and transient failures are retried (``_TransientRetry``).
    Why each: docs/design.md, "Why msal, requests and a hand-written managed identity"."""
    return new_session(
        max_bytes=http_limits.TOKEN_REPLY_MAX_BYTES,
        https_only=True,
        retries=_TransientRetry.transient(),
        timeout=HTTP_TIMEOUT_SECONDS,
    )


class ConfidentialClients:
    """msal ``ConfidentialClientApplication`` objects for one app id, one per (authority, credential).

    Built on first use under a lock, because building one fetches the authority's OpenID configuration;
    reused afterwards so that the configuration and msal's throttling state survive between calls, at most
    ``MAX_APPS`` of them, the least recently used going first. msal stores no tokens (``_NothingStored``).
    Errors come out as ``TokenEndpointError``.

    What differs between the sources that use it:

    - ``hints``: fixes for AADSTS codes that only this source knows, added after the general ones
      (workload identity's federated-credential fixes);
    - ``discovery_hint``: what to check when the authority's OpenID configuration cannot be read
      (default: the tenant and the cloud, as ``TenantId`` names them);
    - ``message_prefix``: how every message starts. Default: .NET's "Tried to get token using {method}.
      Access token could not be acquired. "; workload identity passes ``""``, as its errors read as the
      managed-identity ones it stands in for;
    - ``setting_names``: what hints call ``AppId``, ``TenantId`` and ``AppKey`` (``FailureContext.names``).
    """

    def __init__(
        self,
        app_id: str,
        method: str,
        *,
        hints: Mapping[int, Hint] | None = None,
        discovery_hint: Hint | None = None,
        message_prefix: str | None = None,
        setting_names: Mapping[str, str] | None = None,
    ) -> None:
        self.app_id = app_id
        self.method = method
        self._names = dict(setting_names or {})
        self._hints = dict(hints or {})
        self._discovery_hint = discovery_hint or _HINTS[90002]
        self._message_prefix = (
            f"Tried to get token using {method}. Access token could not be acquired. "
            if message_prefix is None
            else message_prefix
        )
        self._lock = threading.Lock()
        self._apps: OrderedDict[tuple[str, str], Any] = OrderedDict()
        fork_safety.new_lock_in_child(self)  # the apps stay; their sessions drop their connections themselves

    def __len__(self) -> int:
        """How many msal applications are kept (at most ``MAX_APPS``)."""
        return len(self._apps)

    def acquire(self, request: TokenRequest, tenant: str, credential: Credential) -> SourceToken:
        """A token for ``request.scope`` from ``{request.authority_host}{tenant}``, the whole call (the OpenID
        configuration when the app is new, the token request, retries) within ``http_limits.DEFAULT_DEADLINE``.

        Exceptions a callable credential raises (a federated token file that cannot be read) pass through
        unchanged, for the source to describe."""
        with http_limits.deadline(http_limits.DEFAULT_DEADLINE):
            return self._acquire(request, tenant, credential)

    def _acquire(self, request: TokenRequest, tenant: str, credential: Credential) -> SourceToken:
        authority = f"{request.authority_host}{tenant}"
        context = FailureContext(self.app_id, tenant, request.resource, credential.label, self._names)
        if not is_valid_tenant(tenant):
            raise self.error(request, authority, f"'{tenant}' is not a valid tenant id or domain.")
        try:
            app = self._app(authority, credential)
        except http_limits.ReplyTooLargeError as exc:
            raise self.error(request, authority, f"The OpenID configuration: {exc}.") from None
        except ValueError as exc:  # msal could not read the OpenID configuration (AADSTS90002 and such)
            problem = (
                _first_line(scrub(str(exc), credential)).split(". ")[0].rstrip(".")
            )  # msal's sentence, without its examples
            raise self.error(request, authority, f"{problem}. {self._discovery_hint(context)}") from None
        except requests.RequestException as exc:
            raise self._unreachable(request, authority, exc, credential) from None
        except msal.exceptions.MsalError as exc:  # msal's "HTTP Error: 503": the configuration answered 5xx
            raise self._failing(request, authority, exc, credential) from None
        except (AttributeError, KeyError, TypeError, RuntimeError) as exc:  # a redirect; JSON, but not a configuration
            detail = _first_line(_exception_detail(exc, credential))[:200]
            reason = f"The OpenID configuration of {authority} could not be read ({detail})."
            raise self.error(request, authority, f"{reason} {self._discovery_hint(context)}") from None
        started = time.time()
        try:
            result = app.acquire_token_for_client([request.scope], claims_challenge=request.claims)
            token = _source_token(result, started) if isinstance(result, dict) and "access_token" in result else None
        except requests.RequestException as exc:
            raise self._unreachable(request, authority, exc, credential) from None
        except http_limits.ReplyTooLargeError as exc:
            raise self.error(request, authority, f"The token endpoint: {exc}.") from None
        except msal.exceptions.MsalError as exc:  # msal's "HTTP Error: 503" for a 5xx
            raise self._failing(request, authority, exc, credential) from None
        # Not a token reply (a proxy's page ...), or one msal cannot read: a refresh_in of Infinity, which it turns
        # into an int (OverflowError).
        except (ValueError, OverflowError, AttributeError, KeyError, TypeError) as exc:
            reason = (
                f"The token endpoint of {authority} answered with something that is not a token reply "
                f"({_exception_detail(exc, credential)}). Check the network, proxy and cloud."
            )
            raise self.error(request, authority, reason) from None
        if token is None:
            reply = {k: scrub(v, credential) if isinstance(v, str) else v for k, v in _as_dict(result).items()}
            if not reply.get("error") and not reply.get("error_description"):
                reason = f"The token endpoint of {authority} answered with neither a token nor an error."
                raise self.error(request, authority, f"{reason} Check the network, proxy and cloud.")
            codes = _error_codes(reply)
            own_hints = [self._hints[code](context) for code in codes if code in self._hints]
            raise self.error(
                request,
                authority,
                " ".join([describe_error_reply(reply, context), *own_hints]),
                error=str(reply.get("error") or ""),
                error_codes=codes,
            )
        return token

    def _app(self, authority: str, credential: Credential) -> Any:
        key = (authority.lower(), credential.key)
        with self._lock:
            app = self._apps.get(key)
            if app is not None:
                self._apps.move_to_end(key)
            else:
                app = msal.ConfidentialClientApplication(
                    self.app_id,
                    client_credential=dict(credential.value)
                    if isinstance(credential.value, Mapping)
                    else credential.value,
                    authority=authority,
                    instance_discovery=False,
                    validate_authority=False,
                    http_client=_msal_session(),
                    token_cache=_NothingStored(),
                )
                self._apps[key] = app
                while len(self._apps) > MAX_APPS:
                    # Dropped, not closed: a caller may still be using it; its pooled connection closes with it.
                    self._apps.popitem(last=False)
            return app

    def forget(self, credential_key: str) -> None:
        """Drop the applications built with a credential that is no longer used (a rotated certificate)."""
        with self._lock:
            for key in [k for k in self._apps if k[1] == credential_key]:
                del self._apps[key]

    def _unreachable(
        self, request: TokenRequest, authority: str, exc: requests.RequestException, credential: Credential
    ) -> TokenEndpointError:
        detail = _exception_detail(exc, credential)
        if isinstance(exc, http_limits.DeadlineExceededError):
            reason = f"{authority} did not answer in time: {detail}. Entra ID, or a proxy in front of it, is failing."
        elif isinstance(exc, http_limits.PlainHttpRefusedError):
            reason = (
                f"Nothing was sent: {detail}. Check the cloud's authority host (AzureAdInstance, AZURE_AUTHORITY_HOST)."
            )
        elif (untrusted := _untrusted_certificate(exc)) is not None:
            bundle, _ = ca_bundle_advice(urlsplit(authority).netloc or authority)
            why = ": ".join(part for part in (untrusted.reason, untrusted.verify_message) if part) or str(untrusted)
            reason = f"Could not reach {authority}: its TLS certificate is not trusted ({why}). {bundle}."
        else:
            reason = f"Could not reach {authority}: {detail}. Check the network, proxy and cloud."
        return self.error(request, authority, reason)

    def _failing(
        self, request: TokenRequest, authority: str, exc: Exception, credential: Credential
    ) -> TokenEndpointError:
        reason = (
            f"{authority} answered with an error msal could not read ({_exception_detail(exc, credential)}): "
            "Entra ID, or a proxy in front of it, is failing. Try again later."
        )
        return self.error(request, authority, reason)

    def error(
        self,
        request: TokenRequest,
        authority: str,
        reason: str,
        *,
        error: str = "",
        error_codes: tuple[int, ...] = (),
    ) -> TokenEndpointError:
        """The error for ``reason``, in this source's words (``message_prefix``), naming what was asked."""
        return TokenEndpointError(
            f"{self._message_prefix}{reason}",
            reason=reason,
            error=error,
            error_codes=error_codes,
            resource=request.resource,
            authority=authority,
            method=self.method,
        )


def _untrusted_certificate(exc: Exception) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``exc``, unless it is one a CA bundle cannot fix (a
    certificate for another host, or an expired one: the generic advice fits those)."""
    found = next((cause for cause in causes(exc) if isinstance(cause, ssl.SSLCertVerificationError)), None)
    if found is None or found.verify_code in (HOSTNAME_MISMATCH, CERT_HAS_EXPIRED):
        return None
    return found


def _exception_detail(exc: Exception, credential: Credential) -> str:
    return f"{type(exc).__name__}: {scrub(str(exc), credential)}"


def _error_codes(reply: Mapping[str, Any]) -> tuple[int, ...]:
    """Entra's ``error_codes`` (a list of numbers); anything else in that field is ignored."""
    codes = reply.get("error_codes")
    if not isinstance(codes, list):
        return ()
    return tuple(int(code) for code in codes if isinstance(code, int) or (isinstance(code, str) and code.isdigit()))


def _as_dict(result: object) -> dict[str, Any]:
    return dict(result) if isinstance(result, dict) else {}


def _source_token(result: Mapping[str, Any], started: float) -> SourceToken:
    """msal gives ``expires_in`` (seconds left, also for cache hits) and ``refresh_on`` (epoch) when Entra sent
    ``refresh_in``; counting from before the call errs on the early side."""
    refresh_on = result.get("refresh_on")
    if not isinstance(result["access_token"], str) or not result["access_token"]:
        raise ValueError("access_token is not a string")
    return SourceToken(
        access_token=result["access_token"],
        expires_on=started + float(result.get("expires_in") or 0),
        token_type=str(result.get("token_type") or "Bearer"),
        refresh_on=float(refresh_on) if refresh_on is not None else None,
    )
