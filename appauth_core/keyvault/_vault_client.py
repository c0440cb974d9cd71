"""Reading one secret from Key Vault through azure-keyvault-secrets; its errors become ours, with the advice
for what failed, in ``vault_errors``.

One ``SecretClient`` per vault, created on first use and kept (its pipeline holds the challenge state and
pooled connections), all sharing one ``requests`` session sized for ``get_many``'s fan-out. The client's
retry policy is tightened (see ``RETRY_DEFAULTS``): ``KeyVaultSecrets`` serves the last good value while
Key Vault is down, so a request should fail fast rather than block a web worker for minutes.

A 401 to a token from our cache is answered by renewing that token once and reading once more (see
``RenewingCredential``): otherwise a refused token would keep failing every read until it expires.

Each client's credential is wrapped in ``KeyVaultScopedCredential``: whatever a vault's challenge asks for,
tokens are only requested for Key Vault's own resources (see ``vault_scope``). At most ``MAX_CLIENTS``
clients are kept, the least recently used going first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import requests
from azure.core.credentials import AccessTokenInfo, TokenRequestOptions
from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy

from .._internal import fork_safety
from .._internal.http_limits import VAULT_REPLY_MAX_BYTES, LimitedTransport, ReplyDeadlinePolicy
from .._internal.http_sessions import new_session
from .._internal.single_flight import SingleFlight
from ..errors import AppAuthError, TokenWaitTimeoutError
from ..tokens._credential_adapter import CredentialAdapter
from ..tokens._provider import AzureServiceTokenProvider
from ..tokens._vault_hosts import VaultOrigin
from ..tokens._vault_scope import KeyVaultScopedCredential
from ._references import SecretRef
from ._vault_errors import VaultAdvice, bearer_token, not_a_secret, translate_error

if TYPE_CHECKING:
    # Imported where first used: an app that only asks for tokens never loads the Key Vault SDK (import time
    # and memory, bench/import_memory.py).
    from azure.core.pipeline.transport import RequestsTransport
    from azure.keyvault.secrets import KeyVaultSecret, SecretClient

RETRY_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {
        # azure-core's defaults are 10 retries, backoff up to 120 s, an uncapped Retry-After and a 7-day
        # operation timeout: one throttled read could hold a worker for many minutes.
        "retry_total": 3,
        "retry_backoff_factor": 0.5,  # 0.5, 1, 2 s: Key Vault's throttling guide backs off 1, 2, 4 ...
        "retry_backoff_max": 4,
        "timeout": 30,  # seconds for the whole operation, retries included: a wall-clock deadline (http_limits)
    }
)
MAX_RETRY_AFTER_IN_CALL = 5.0
"""A longer Retry-After is not slept inside the call: the error reaches ``KeyVaultSecrets``, which keeps
serving the cached value and honours the Retry-After between attempts instead of blocking a request."""
CONNECTION_TIMEOUT = 10.0
READ_TIMEOUT = 20.0
_MAX_ISSUED = 64
MAX_CLIENTS = 64
"""Vault clients kept at once, the least recently used going first. An app reads a handful of vaults; but
a reference may name any ``*.vault.azure.net`` vault, and settings someone else can write to could name a
new one on every read. 64 clients hold about 2 MB (32 KB each, measured with tracemalloc over 500 clients);
a client dropped is rebuilt on its next read, for one more challenge round trip."""


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


class RenewingCredential(CredentialAdapter):
    """The provider as ``SecretClient``'s credential, plus ``renew``: a new token in place of one Key Vault
    refused with a 401 (a wrong audience, a tenant move, a token minted before a role change or revoked), which
    ``VaultClients.fetch`` calls with the refused token. Why: docs/design.md, "A token Key Vault refused".

    ``renew`` forces at most one token request per refused token: renewals of one (resource, tenant) are
    single-flight (32 readers refused at once cause one token request), and each first checks that the
    cache still holds the refused token, so a reader refused just after another one renewed it reuses the
    new token.
    """

    def __init__(self, provider: AzureServiceTokenProvider) -> None:
        self._provider = provider
        # (resource, tenant) -> the token last handed out for it: where a refused token is looked up. Plain
        # dict reads and writes (atomic): no lock, so none to be left held in a forked child.
        self._issued: dict[tuple[str, str | None], str] = {}
        self._renewals: SingleFlight[bool] = SingleFlight(TokenWaitTimeoutError.after)

    def _token_info(self, scopes: tuple[str, ...], options: TokenRequestOptions) -> AccessTokenInfo:
        info = self._provider.get_token_info(*scopes, options=options)
        self._remember(scopes, options.get("tenant_id"), info.token)
        return info

    def renew(self, refused: str) -> None:
        """Make the cache hold a newer token than ``refused`` (one Key Vault answered 401 to). Raises the
        provider's error if no new token can be had."""
        key = next((key for key, token in list(self._issued.items()) if token == refused), None)
        if key is None:
            return  # a newer token was handed out since: the retry will get it
        resource, tenant_id = key
        self._renewals.run(key, lambda: self._renew(resource, tenant_id, refused))

    def _remember(self, scopes: tuple[str, ...], tenant_id: str | None, token: str) -> None:
        if len(self._issued) >= _MAX_ISSUED:  # an app reading vaults in endless tenants stays bounded
            self._issued.clear()
        self._issued[(scopes[0].removesuffix("/.default"), tenant_id)] = token  # the provider checked the scope

    def _renew(self, resource: str, tenant_id: str | None, refused: str) -> bool:
        if self._provider.get_access_token(resource, tenant_id) != refused:
            return False  # renewed by an earlier flight, or refreshed as it fell due: already newer
        self._provider.get_access_token(resource, tenant_id, force_refresh=True)
        return True


class VaultClients:
    """``fetch(ref)`` for any allowed vault; the caller checks the allow-list before calling.

    ``key_vault_resource``: the one Key Vault resource besides Azure's that a vault's challenge may ask a
    token for. ``max_clients``: how many vaults' clients are kept (``MAX_CLIENTS``). ``advice``: how errors
    name settings, and which vault and suffix were configured (``vault_errors``)."""

    def __init__(
        self,
        credential: Callable[[], Any],
        *,
        max_connections: int = 64,
        client_options: Mapping[str, Any] | None = None,
        key_vault_resource: str | None = None,
        max_clients: int = MAX_CLIENTS,
        advice: VaultAdvice | None = None,
    ) -> None:
        self._credential = credential
        self._advice = advice or VaultAdvice()
        self._options = dict(client_options or {})
        self._max_connections = max_connections
        self._key_vault_resource = key_vault_resource  # canonical (vault_scope.key_vault_resource), or None
        self._max_clients = max_clients
        self._clients: OrderedDict[VaultOrigin, SecretClient] = OrderedDict()
        self._tokens: Any = None  # what every client gets as its credential; built with the first client
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        fork_safety.reset_in_child(self)

    def _after_fork_in_child(self) -> None:
        # Abandoned, not closed: the clients' pooled TLS connections are the parent's (fork_safety closes
        # the child's copies of their sockets); the next fetch builds new clients on a new session.
        self._lock = threading.Lock()
        self._clients = OrderedDict()
        self._session = None

    def fetch(self, ref: SecretRef) -> FetchedSecret:
        """The secret's value and metadata, or one of our typed errors (a token failure passes as it is)."""
        client = self._client(ref.origin)
        try:
            secret = self._get_secret(client, ref)
        except AppAuthError:  # a token failure as the provider's error; a CA bundle that cannot be read
            raise
        except UnicodeDecodeError:  # a ValueError, but no challenge check: a body that is not even text
            raise not_a_secret(ref, "not text") from None
        except (AzureError, ValueError) as exc:
            raise translate_error(exc, ref, self._advice) from exc
        except (AttributeError, KeyError, TypeError) as exc:  # the SDK choked on a 200 that is not a secret
            raise not_a_secret(ref, type(exc).__name__) from None
        if not isinstance(secret.value, str):
            raise not_a_secret(ref, "no value in it")
        try:
            return _fetched(secret, ref)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # attributes or tags of the wrong shape
            raise not_a_secret(ref, type(exc).__name__) from None

    def _get_secret(self, client: SecretClient, ref: SecretRef) -> KeyVaultSecret:
        """``get_secret``, and once more after a 401 to one of our tokens, that token renewed first (see
        ``RenewingCredential``). A second 401 is raised for ``fetch`` to translate: however the vault
        answers, a read costs at most one forced token request and one retry."""
        try:
            return client.get_secret(ref.name, ref.version)
        except ClientAuthenticationError as exc:
            refused = _refused_token(exc)
            if refused is None or not isinstance(self._tokens, RenewingCredential):
                raise
            self._tokens.renew(refused)  # a token failure here is raised as the provider's error
        return client.get_secret(ref.name, ref.version)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), OrderedDict()
            session, self._session = self._session, None
        for client in clients:
            client.close()
        if session is not None:
            session.close()

    def _client(self, origin: VaultOrigin) -> SecretClient:
        client = self._clients.get(origin)
        if client is not None:
            with contextlib.suppress(KeyError):  # dropped by another thread just now: this one still works
                self._clients.move_to_end(origin)  # one C call, atomic under the GIL: no lock on the hit path
            return client
        with self._lock:
            client = self._clients.get(origin)
            if client is None:
                client = self._clients[origin] = self._new_client(origin)
                while len(self._clients) > self._max_clients:
                    # Dropped, not closed: a reader may still hold it, and the session (or the app's own
                    # transport) it uses is shared with the clients kept.
                    self._clients.popitem(last=False)
            return client

    def _new_client(self, origin: VaultOrigin) -> SecretClient:
        from azure.keyvault.secrets import SecretClient

        options = dict(self._options)
        retry = {key: options.pop(key, default) for key, default in RETRY_DEFAULTS.items()}
        credential = KeyVaultScopedCredential(
            self._token_credential(),
            vault_url=origin.url,
            configured=self._key_vault_resource,
            how_to_allow=f"configure it: {self._advice.setting('KEY_VAULT_RESOURCE')}",
        )
        return SecretClient(
            origin.url,
            credential,
            # The SDK's challenge-resource check (the challenge's resource must be a suffix of the vault's
            # host) stays on for real vaults, besides our own guard above (Key Vault resources only, for every
            # vault). Loopback hosts (the emulator) can never pass it: the emulator's challenge names
            # https://vault.azure.net, and *.localhost does not resolve everywhere.
            verify_challenge_resource=not origin.is_loopback,
            retry_policy=BoundedRetryPolicy(**retry),
            # The whole read, retries and their waits included, within the operation's timeout (http_limits).
            per_call_policies=[ReplyDeadlinePolicy(retry["timeout"]), *options.pop("per_call_policies", [])],
            transport=options.pop("transport", None) or self._transport(options),
            permit_redirects=False,  # Key Vault never redirects; a redirect could only lead a request elsewhere
            **options,
        )

    def _token_credential(self) -> Any:
        """One credential for every vault (called under the lock): they share the token for their scope,
        so a token one vault refused is renewed once for all. A credential other than our provider is used
        as it is, and a 401 to it is not retried (nothing of ours to renew)."""
        if self._tokens is None:
            credential = self._credential()
            is_provider = isinstance(credential, AzureServiceTokenProvider)
            self._tokens = RenewingCredential(credential) if is_provider else credential
        return self._tokens

    def _transport(self, options: dict[str, Any]) -> RequestsTransport:
        """The pooled session, whose replies keep appauth's limits (``http_limits``: the operation's deadline,
        at most 1 MiB, https only); the app may pass its own ``transport`` (a proxy, custom TLS) instead, which
        then decides how long a reply may take and how large it may be."""
        return LimitedTransport(
            session=self._shared_session(),
            session_owner=False,
            connection_timeout=options.pop("connection_timeout", CONNECTION_TIMEOUT),
            read_timeout=options.pop("read_timeout", READ_TIMEOUT),
        )

    def _shared_session(self) -> requests.Session:
        if self._session is None:
            self._session = new_session(
                max_bytes=VAULT_REPLY_MAX_BYTES, https_only=True, pool_connections=4, pool_maxsize=self._max_connections
            )
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


def _refused_token(exc: ClientAuthenticationError) -> str | None:
    """The bearer token a 401 answered, read from the request it answered; None when that request carried
    none (Key Vault's challenge to a request without a token is the SDK's own business)."""
    return bearer_token(exc) if exc.status_code == 401 else None
