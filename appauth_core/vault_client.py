"""Reading one secret from Key Vault through azure-keyvault-secrets, and turning its errors into ours.

One ``SecretClient`` per vault, created on first use and kept (its pipeline holds the challenge state and
pooled connections), all sharing one ``requests`` session sized for ``get_many``'s fan-out. The client's
retry policy is tightened (see ``RETRY_DEFAULTS``): ``KeyVaultSecrets`` serves the last good value while
Key Vault is down, so a request should fail fast rather than block a web worker for minutes.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import requests
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.keyvault.secrets import KeyVaultSecret, SecretClient
from requests.adapters import HTTPAdapter

from . import fork_safety
from .errors import (
    AzureServiceTokenProviderError,
    KeyVaultError,
    KeyVaultUnavailableError,
    SecretAccessDeniedError,
    SecretDisabledError,
    SecretNotFoundError,
)
from .references import SecretRef
from .vault_hosts import VaultOrigin

RETRY_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {
        # azure-core's defaults are 10 retries, backoff up to 120 s, an uncapped Retry-After and a 7-day
        # operation timeout: one throttled read could hold a worker for many minutes.
        "retry_total": 3,
        "retry_backoff_factor": 0.5,  # 0.5, 1, 2 s: Key Vault's throttling guide backs off 1, 2, 4 ...
        "retry_backoff_max": 4,
        "timeout": 30,  # seconds for the whole operation, retries included
    }
)
MAX_RETRY_AFTER_IN_CALL = 5.0
"""A longer Retry-After is not slept inside the call: the error reaches ``KeyVaultSecrets``, which keeps
serving the cached value and honours the Retry-After between attempts instead of blocking a request."""
CONNECTION_TIMEOUT = 10.0
READ_TIMEOUT = 20.0
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class SecretMetadata:
    """What ``describe`` shows: everything about a secret version except its value."""

    name: str
    vault_url: str
    version: str | None
    content_type: str | None = None
    enabled: bool | None = None
    created_on: dt.datetime | None = None
    updated_on: dt.datetime | None = None
    not_before: dt.datetime | None = None
    expires_on: dt.datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class FetchedSecret:
    value: str = field(repr=False)
    metadata: SecretMetadata


class BoundedRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's retry policy, except that a Retry-After longer than ``max_retry_after`` ends the call
    (azure-core would sleep for whatever the server asks)."""

    def __init__(self, *, max_retry_after: float = MAX_RETRY_AFTER_IN_CALL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_retry_after = max_retry_after

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after is not None and retry_after > self._max_retry_after:
            return False
        return bool(super().is_retry(settings, response))


class VaultClients:
    """``fetch(ref)`` for any allowed vault; the caller checks the allow-list before calling."""

    def __init__(
        self,
        credential: Callable[[], Any],
        *,
        max_connections: int = 64,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._credential = credential
        self._options = dict(client_options or {})
        self._max_connections = max_connections
        self._clients: dict[VaultOrigin, SecretClient] = {}
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        fork_safety.reset_in_child(self)

    def _after_fork_in_child(self) -> None:
        # Abandoned, not closed: the clients' pooled TLS connections are the parent's (fork_safety closes
        # the child's copies of their sockets); the next fetch builds new clients on a new session.
        self._lock = threading.Lock()
        self._clients = {}
        self._session = None

    def fetch(self, ref: SecretRef) -> FetchedSecret:
        """The secret's value and metadata, or one of our typed errors (a token failure passes as it is)."""
        client = self._client(ref.origin)
        try:
            secret = client.get_secret(ref.name, ref.version)
        except AzureServiceTokenProviderError:
            raise
        except UnicodeDecodeError:  # a ValueError, but no challenge check: a body that is not even text
            raise _not_a_secret(ref, "not text") from None
        except (AzureError, ValueError) as exc:
            raise translate_error(exc, ref) from exc
        except (AttributeError, KeyError, TypeError) as exc:  # the SDK choked on a 200 that is not a secret
            raise _not_a_secret(ref, type(exc).__name__) from None
        if not isinstance(secret.value, str):
            raise _not_a_secret(ref, "no value in it")
        try:
            return _fetched(secret, ref)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # attributes or tags of the wrong shape
            raise _not_a_secret(ref, type(exc).__name__) from None

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            session, self._session = self._session, None
        for client in clients:
            client.close()
        if session is not None:
            session.close()

    def _client(self, origin: VaultOrigin) -> SecretClient:
        client = self._clients.get(origin)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(origin)
            if client is None:
                client = self._clients[origin] = self._new_client(origin)
            return client

    def _new_client(self, origin: VaultOrigin) -> SecretClient:
        options = dict(self._options)
        retry = {key: options.pop(key, default) for key, default in RETRY_DEFAULTS.items()}
        return SecretClient(
            origin.url,
            self._credential(),
            # The challenge-resource check (the challenge's resource must be a suffix of the vault's host)
            # stays on for real vaults. Loopback hosts (the emulator) can never pass it: the emulator's
            # challenge names https://vault.azure.net, and *.localhost does not resolve everywhere.
            verify_challenge_resource=not origin.is_loopback,
            retry_policy=BoundedRetryPolicy(**retry),
            transport=options.pop("transport", None) or self._transport(options),
            permit_redirects=False,  # Key Vault never redirects; a redirect could only lead a request elsewhere
            **options,
        )

    def _transport(self, options: dict[str, Any]) -> RequestsTransport:
        """The pooled session; the app may pass its own ``transport`` (a proxy, custom TLS) instead."""
        return RequestsTransport(
            session=self._shared_session(),
            session_owner=False,
            connection_timeout=options.pop("connection_timeout", CONNECTION_TIMEOUT),
            read_timeout=options.pop("read_timeout", READ_TIMEOUT),
        )

    def _shared_session(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self._max_connections)
            session.mount("https://", adapter)
            self._session = session
        return self._session


def _fetched(secret: KeyVaultSecret, ref: SecretRef) -> FetchedSecret:
    properties = secret.properties
    metadata = SecretMetadata(
        name=properties.name or ref.name,
        vault_url=ref.vault_url,
        version=properties.version,
        content_type=properties.content_type,
        enabled=properties.enabled,
        created_on=properties.created_on,
        updated_on=properties.updated_on,
        not_before=properties.not_before,
        expires_on=properties.expires_on,
        tags=MappingProxyType(dict(properties.tags or {})),
    )
    return FetchedSecret(secret.value or "", metadata)  # fetch() checked that there is a value


def _not_a_secret(ref: SecretRef, why: str) -> KeyVaultError:
    """A 200 whose body is not a secret bundle: a proxy's page, or a vault misbehaving. Never served as a value
    (an empty string would become a password)."""
    return KeyVaultError(
        f"secret {ref.name!r} in {ref.vault_url}: Key Vault answered 200 but not with a secret ({why}); a proxy "
        "or the vault is misbehaving",
        vault_url=ref.vault_url,
        secret_name=ref.name,
        version=ref.version,
        status=200,
    )


def translate_error(exc: Exception, ref: SecretRef) -> KeyVaultError:
    """Key Vault's answer as one of our errors, naming the secret and the vault (Key Vault's own messages
    never contain a secret value)."""
    context: dict[str, Any] = {"vault_url": ref.vault_url, "secret_name": ref.name, "version": ref.version}
    what = f"secret {ref.name!r}" + (f" version {ref.version!r}" if ref.version else "") + f" in {ref.vault_url}"
    if isinstance(exc, ResourceNotFoundError):
        return SecretNotFoundError(f"{what} was not found (404)", status=404, **context)
    if isinstance(exc, ClientAuthenticationError):
        return SecretAccessDeniedError(
            f"Key Vault refused the token for {what} (401: {_service_message(exc)}); check that the identity's "
            "tenant is the vault's tenant",
            status=401,
            **context,
        )
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return _from_status(exc, exc.status_code, what, context)
    if isinstance(exc, ValueError):  # SecretClient's challenge-resource check, or a reply it could not read
        reason = str(exc) or "Key Vault answered with a reply that could not be read"
        return KeyVaultError(f"{what}: {reason}", **context)
    return KeyVaultUnavailableError(
        f"{what} could not be read: Key Vault did not answer ({type(exc).__name__}: {exc})", **context
    )


def _from_status(exc: HttpResponseError, status: int, what: str, context: dict[str, Any]) -> KeyVaultError:
    if status == 403 and _inner_code(exc) == "SecretDisabled":
        return SecretDisabledError(f"{what} is disabled (403 SecretDisabled)", status=status, **context)
    if status == 403:
        return SecretAccessDeniedError(
            f"the identity may not read {what} (403: {_service_message(exc)})", status=status, **context
        )
    if status in TRANSIENT_STATUSES:
        retry_after = retry_after_seconds(exc)
        hint = f"; Retry-After {retry_after:.0f} s" if retry_after is not None else ""
        return KeyVaultUnavailableError(
            f"{what} could not be read: Key Vault answered {status} after retries{hint}",
            status=status,
            retry_after=retry_after,
            **context,
        )
    return KeyVaultError(f"{what}: Key Vault answered {status} ({_service_message(exc)})", status=status, **context)


def _inner_code(exc: HttpResponseError) -> str | None:
    inner = getattr(exc.error, "innererror", None) if exc.error is not None else None
    code = inner.get("code") if isinstance(inner, dict) else None
    return code if isinstance(code, str) else None


def _service_message(exc: AzureError) -> str:
    error = getattr(exc, "error", None)
    code, message = getattr(error, "code", None), getattr(error, "message", None)
    if code or message:
        return f"{code}: {message}" if code and message else str(code or message)
    return type(exc).__name__


def retry_after_seconds(exc: HttpResponseError) -> float | None:
    """The server's wait hint: ``retry-after-ms`` / ``x-ms-retry-after-ms`` or ``Retry-After`` (seconds or
    an HTTP date), as azure-core reads them."""
    response: Any = exc.response
    headers: Mapping[str, str] = response.headers if response is not None else {}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(float(value) / 1000.0, 0.0)
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max((when - dt.datetime.now(dt.timezone.utc)).total_seconds(), 0.0)
