"""An authority's OpenID metadata and signing keys, fetched once and kept: ``AuthorityMetadata``.

One per validator (one authority, one tenant segment: the tenant's id, or ``organizations`` for several
tenants). It fetches ``{authority}{tenant}/v2.0/.well-known/openid-configuration`` (v2 tokens) and
``{authority}{tenant}/.well-known/openid-configuration`` (v1 tokens) when a token of that version first
needs its issuer, and the key set at the ``jwks_uri`` the first of them names (Entra publishes one key set
for both versions). What it fetches, and when:

- Single flight: concurrent callers that need the same document or the key set share one request.
- Keys are refreshed every ``REFRESH_SECONDS`` (a day), in the background, while the current ones serve;
  if the refresh fails the keys it had stay in use (logged), and the next refresh is tried
  ``RETRY_SECONDS`` later.
- A ``kid`` the key set lacks (Entra rolled its keys) refetches the key set at most once per
  ``KID_REFETCH_SECONDS`` (5 minutes, Microsoft.IdentityModel's ``RefreshInterval``): a flood of tokens with
  forged ``kid`` values costs one request, not one each. Callers whose ``kid`` arrives while that refetch is
  under way wait for it instead of being refused.
- A failure with nothing kept is ``SigningKeysUnavailableError`` (503): the token may be valid. For
  ``FAILURE_HOLD_SECONDS`` after a failure nothing is fetched; requests meanwhile get the same answer.

Requests go through the core's session factory (``http_sessions.new_session``): https only, the size caps and
deadline of ``http_limits``, the TLS trust of ``http_trust`` (``REQUESTS_CA_BUNDLE`` and friends), no redirects.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from urllib3.util.retry import Retry

from .._internal import fork_safety, http_limits
from .._internal.http_sessions import new_session
from .._internal.single_flight import SingleFlight
from ..errors import SigningKeysUnavailableError
from ._caller import Version

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

logger = logging.getLogger("appauth_core")

REFRESH_SECONDS = 24 * 3600.0
RETRY_SECONDS = 5 * 60.0
KID_REFETCH_SECONDS = 5 * 60.0
FAILURE_HOLD_SECONDS = 5.0  # after a failed fetch, requests fail at once for this long: a down authority
# is not asked again by every request that arrives meanwhile
FETCH_DEADLINE = 10.0  # seconds for one document, retries included: a request waits on it
DOCUMENT_MAX_BYTES = http_limits.TOKEN_REPLY_MAX_BYTES  # an OpenID configuration is 2 KiB
KEYS_MAX_BYTES = 256 * 1024  # Entra's key set is ~10 KiB (a handful of keys, each with its certificate)

_session_lock = threading.Lock()
fork_safety.new_lock_in_child(sys.modules[__name__], "_session_lock")
_sessions: dict[int, requests.Session] = {}


def _session() -> requests.Session:
    """The process's session for metadata (pooled connections shared by every validator; dropped in a fork)."""
    session = _sessions.get(0)
    if session is None:
        with _session_lock:
            session = _sessions.get(0)
            if session is None:
                retries = Retry(
                    total=2,
                    read=0,
                    status_forcelist=(429, 500, 502, 503, 504),
                    backoff_factor=0.2,
                    allowed_methods=frozenset({"GET"}),
                    raise_on_status=False,
                )
                session = _sessions[0] = new_session(
                    max_bytes=KEYS_MAX_BYTES, https_only=True, retries=retries, timeout=FETCH_DEADLINE
                )
    return session


@dataclass(frozen=True)
class Document:
    """What a discovery document says that validation uses."""

    issuer: str  # with ``{tenantid}`` where the token's tid goes (multi-tenant documents)
    jwks_uri: str


@dataclass(frozen=True)
class KeySet:
    keys: Mapping[str, RSAPublicKey]  # by kid
    fetched_at: float  # time.monotonic()
    version: Version  # of the discovery document that named the key set


class AuthorityMetadata:
    """The discovery documents and key set of ``{authority}{tenant}`` (see the module docstring)."""

    def __init__(self, authority: str, tenant: str) -> None:
        self.base = f"{authority}{tenant}"
        self._documents: dict[Version, Document] = {}
        self._keys: KeySet | None = None
        self._next_refresh = 0.0  # monotonic time after which the keys are refreshed in the background
        self._kid_refetch_at = float("-inf")  # when an unknown kid last refetched the key set
        self._failed: tuple[float, str] | None = None  # when a fetch last failed, and why
        self._lock = threading.Lock()
        waited: Callable[[float], Exception] = lambda seconds: self._unavailable(  # noqa: E731
            f"another request's fetch of the metadata was still under way after {seconds:g} s"
        )
        self._key_flights: SingleFlight[KeySet] = SingleFlight(waited)
        self._document_flights: SingleFlight[Document] = SingleFlight(waited)  # both forget flights in a child
        fork_safety.new_lock_in_child(self)

    def discovery_url(self, version: Version) -> str:
        middle = "/v2.0" if version == "2.0" else ""
        return f"{self.base}{middle}/.well-known/openid-configuration"

    # --- what validation asks -----------------------------------------------------------------------------

    def ready_issuer(self, version: Version) -> str | None:
        """The issuer template for ``version`` if it is known already (no I/O)."""
        document = self._documents.get(version)
        return None if document is None else document.issuer

    def issuer(self, version: Version) -> str:
        """The ``issuer`` of ``version``'s discovery document (fetched the first time)."""
        return self._document(version).issuer

    def ready_key(self, kid: str) -> RSAPublicKey | None:
        """The key ``kid`` names if the key set is loaded, holds it and is not due for a refresh (no I/O)."""
        keys = self._keys
        if keys is None or time.monotonic() >= self._next_refresh:
            return None
        found: RSAPublicKey | None = keys.keys.get(kid)
        return found

    def key(self, kid: str, version: Version) -> RSAPublicKey | None:
        """The published key ``kid`` names, or None when the key set lacks it even after the one refetch an
        unknown kid may cause per ``KID_REFETCH_SECONDS``. ``SigningKeysUnavailableError`` if no key set can be had."""
        keys = self._keys
        if keys is None:
            keys = self._key_flights.run("keys", lambda: self._fetch_keys(version), ready=lambda: self._keys)
        elif time.monotonic() >= self._next_refresh:
            self._refresh_in_background()
        found = keys.keys.get(kid)
        if found is not None:
            return found
        keys = self._key_flights.run("keys", self._refetch_if_due, ready=lambda: self._holding(kid))
        return keys.keys.get(kid)

    # --- fetching -----------------------------------------------------------------------------------------

    def _holding(self, kid: str) -> KeySet | None:
        keys = self._keys
        return keys if keys is not None and kid in keys.keys else None

    def _refetch_if_due(self) -> KeySet:
        """For an unknown kid: the key set fetched again, unless an unknown kid did that less than
        ``KID_REFETCH_SECONDS`` ago (then the current one, unfetched). A failed refetch keeps the current set."""
        current = self._keys
        assert current is not None
        with self._lock:
            now = time.monotonic()
            if now - self._kid_refetch_at < KID_REFETCH_SECONDS:
                return current
            self._kid_refetch_at = now
        try:
            return self._fetch_keys(None)
        except SigningKeysUnavailableError as error:
            logger.warning("Kept the signing keys of %s: fetching them again failed: %s", self.base, error.reason)
            return current

    def _refresh_in_background(self) -> None:
        with self._lock:
            if time.monotonic() < self._next_refresh:
                return
            self._next_refresh = time.monotonic() + RETRY_SECONDS  # until this refresh succeeds
        self._key_flights.start_if_idle("keys", lambda: self._fetch_keys(None, refresh=True), self._refresh_failed)

    def _refresh_failed(self, error: BaseException) -> None:
        reason = error.reason if isinstance(error, SigningKeysUnavailableError) else repr(error)
        logger.warning(
            "Kept the signing keys of %s: the daily refresh failed (%s); trying again in %d s",
            self.base,
            reason,
            RETRY_SECONDS,
        )

    def _fetch_keys(self, version: Version | None, *, refresh: bool = False) -> KeySet:
        """The key set at the ``jwks_uri`` of the document already used, else of ``version``'s; on a refresh
        the document is fetched again first (its ``jwks_uri`` may have moved)."""
        current = self._keys
        which: Version = current.version if current is not None else version or "2.0"
        uri = (self._fetch_document(which) if refresh else self._document(which)).jwks_uri
        body = self._get(uri, "signing keys")
        keys = KeySet(_parse_keys(body, uri, self._unavailable), time.monotonic(), which)
        with self._lock:
            self._keys = keys
            self._next_refresh = keys.fetched_at + REFRESH_SECONDS
        return keys

    def _document(self, version: Version) -> Document:
        document = self._documents.get(version)
        if document is not None:
            return document
        return self._document_flights.run(
            version, lambda: self._fetch_document(version), ready=lambda: self._documents.get(version)
        )

    def _fetch_document(self, version: Version) -> Document:
        url = self.discovery_url(version)
        body = self._get(url, "OpenID configuration")
        issuer, jwks_uri = body.get("issuer"), body.get("jwks_uri")
        if not isinstance(issuer, str) or not issuer or not isinstance(jwks_uri, str) or not jwks_uri:
            raise self._unavailable(f"the OpenID configuration at {url} has no issuer or jwks_uri")
        if not jwks_uri.startswith("https://"):
            raise self._unavailable(f"the OpenID configuration at {url} names a key set that is not https")
        document = self._documents[version] = Document(issuer, jwks_uri)
        return document

    def _get(self, url: str, what: str) -> dict[str, Any]:
        failed = self._failed
        if failed is not None and time.monotonic() - failed[0] < FAILURE_HOLD_SECONDS:
            raise self._unavailable(f"{failed[1]} (not tried again for {FAILURE_HOLD_SECONDS:g} s)")
        try:
            body = self._get_once(url, what)
        except SigningKeysUnavailableError as error:
            self._failed = (time.monotonic(), error.reason)
            raise
        self._failed = None
        return body

    def _get_once(self, url: str, what: str) -> dict[str, Any]:
        try:
            with http_limits.deadline(FETCH_DEADLINE), http_limits.reply_limit(_cap(what)):
                response = _session().get(url, headers={"Accept": "application/json"})
        except (requests.RequestException, http_limits.ReplyTooLargeError) as exc:
            raise self._unavailable(f"the {what} could not be fetched from {url}: {exc}") from None
        if response.status_code != 200:
            raise self._unavailable(f"{url} answered {response.status_code} for the {what}")
        try:
            body = json.loads(response.content)
        except ValueError:
            raise self._unavailable(f"the {what} from {url} is not JSON") from None
        if not isinstance(body, dict):
            raise self._unavailable(f"the {what} from {url} is not a JSON object")
        return body

    def _unavailable(self, reason: str) -> SigningKeysUnavailableError:
        return SigningKeysUnavailableError(reason, authority=self.base)


def _cap(what: str) -> int:
    return KEYS_MAX_BYTES if what == "signing keys" else DOCUMENT_MAX_BYTES


def _parse_keys(body: dict[str, Any], uri: str, unavailable: Any) -> dict[str, RSAPublicKey]:
    """The RSA signing keys of a JWKS by kid; keys of other types or uses are skipped (PyJWT reads each JWK)."""
    # PyJWT and cryptography are imported at the first key set, not with appauth_core.
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from jwt.algorithms import RSAAlgorithm

    entries = body.get("keys")
    if not isinstance(entries, list):
        raise unavailable(f"the key set at {uri} has no 'keys' list")
    keys: dict[str, RSAPublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            key = RSAAlgorithm.from_jwk(entry)
        except Exception:  # noqa: S112 - a malformed key is skipped, as PyJWKSet skips unusable keys
            continue
        if isinstance(key, RSAPublicKey):
            keys[kid] = key
    if not keys:
        raise unavailable(f"the key set at {uri} holds no RSA signing key")
    return keys
