"""``AzureServiceTokenProvider``: tokens for any resource from the developer's sign-in locally and from
a managed identity (or a service principal) in Azure, with no code change.

Also an azure-core credential (``get_token`` / ``get_token_info``), so ``SecretClient(url, provider)``,
``BlobServiceClient(url, credential=provider)`` and every other Azure SDK client take it as it is; and, as
``provider.aio``, an async one for the ``.aio`` clients (``_async_credential.py``), on the same cache.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from .._internal.frame_locals import clears_locals
from .._internal.setting_names import setting_name
from ..errors import Attempt, AzureServiceTokenProviderError, ConnectionStringError, InvalidRequestError
from ._async_credential import AsyncCredential
from ._cache import CacheEntry, TokenCache, new_entry, shared_cache
from ._connection_string import ENVIRONMENT_VARIABLE, ConnectionSettings, parse_connection_string
from ._credential_adapter import CredentialAdapter
from ._result import AppAuthenticationResult, Principal
from ._scopes import resource_from_scopes, token_info, token_info_request
from ._selection import default_chain, source_for
from ._token_claims import fingerprint
from .sources._base import DEFAULT_AUTHORITY_HOST, TokenRequest, TokenSource, is_valid_resource, is_valid_tenant

logger = logging.getLogger("appauth_core")

CONNECTION_STRING_VARIABLE = ENVIRONMENT_VARIABLE
_MAX_REMEMBERED_KEYS = 1024
_LATEST_EXPIRY = 253402300799.0  # 9999-12-31 23:59:59 UTC: the last moment expires_on (a datetime) can hold


class AzureServiceTokenProvider(CredentialAdapter):
    """Get access tokens for Azure resources without credentials in code.

    ``connection_string``: ``None`` reads ``AzureServicesAuthConnectionString``; absent or empty means the
    default chain (managed identity, then the service principal of ``AZURE_CLIENT_ID`` / ``AZURE_TENANT_ID``
    / ``AZURE_CLIENT_SECRET`` or ``AZURE_CLIENT_CERTIFICATE_PATH``, then Visual Studio on Windows, then the
    Azure CLI, then integrated Windows authentication: ``selection``). ``azure_ad_instance``: the Entra ID
    host for service-principal and Windows sign-in (sovereign clouds, the local emulator); https, defaults to
    ``https://login.microsoftonline.com/`` (or ``AzureAdInstance`` in the connection string). ``spell``: how
    errors name settings, for an adapter that reads them from its own (``"APPAUTH['{}']"``, see
    ``setting_names``); None names these arguments.

    Tokens are cached process-wide, refreshed before they expire, and fetched once however many callers
    ask at the same moment.
    """

    @clears_locals  # the connection string (AppKey) and the environment
    def __init__(
        self,
        connection_string: str | None = None,
        azure_ad_instance: str | None = None,
        *,
        cache: TokenCache | None = None,
        environ: Mapping[str, str] | None = None,
        spell: str | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        text = connection_string if connection_string is not None else env.get(CONNECTION_STRING_VARIABLE)
        origin = setting_name("CONNECTION_STRING", spell) if connection_string is not None else None
        self._settings: ConnectionSettings | None = (
            parse_connection_string(text, setting=origin or CONNECTION_STRING_VARIABLE)
            if text is not None and text.strip()
            else None
        )
        self._source: TokenSource = (
            source_for(self._settings, env) if self._settings else default_chain(env, spell=spell)
        )
        configured = azure_ad_instance or (self._settings.azure_ad_instance if self._settings else None)
        self._authority_host = _normalise_instance(configured or DEFAULT_AUTHORITY_HOST)
        self._cache = shared_cache if cache is None else cache
        self._principal: Principal | None = None
        self._method: str | None = None
        # (resource, tenant) -> cache key, filled only after the arguments were validated once: a hit then
        # costs two dict lookups and a clock read (see bench/cached_token.py), no regex, no allocation.
        self._keys: dict[tuple[str, str | None], tuple[str, str, str, str]] = {}
        self._peek = self._cache.peek
        # The azure-core AccessToken last built per cache key, reused while the entry is unchanged.
        self._access_tokens: dict[tuple[str, str, str, str], tuple[CacheEntry, AccessToken]] = {}

    def __repr__(self) -> str:
        shown = self._settings.redacted if self._settings else None
        return f"AzureServiceTokenProvider(connection_string={shown!r}, azure_ad_instance={self._authority_host!r})"

    # --- the .NET API -----------------------------------------------------------------------------

    def get_access_token(self, resource: str, tenant_id: str | None = None, force_refresh: bool = False) -> str:
        """An access token for ``resource`` (e.g. ``https://vault.azure.net``), from cache when it can."""
        if not force_refresh:
            key = self._keys.get((resource, tenant_id))
            if key is not None:
                entry = self._peek(key)
                if entry is not None:
                    self._principal, self._method = entry.principal, entry.method
                    return entry.token.access_token
        return self._entry(resource, tenant_id, force_refresh).token.access_token

    def cached_access_token(self, resource: str, tenant_id: str | None = None) -> str | None:
        """The cached token for ``resource`` while it needs no work (not due for refresh), else None; never
        sends a request nor waits. For callers that must know whether a token came from the cache (a 401 to
        it is worth a refresh) or must not block (an event loop). Bad arguments raise as for
        ``get_access_token``."""
        key = self._keys.get((resource, tenant_id)) or self._key(resource, tenant_id)
        entry = self._peek(key)
        if entry is None:
            return None
        self._principal, self._method = entry.principal, entry.method
        return entry.token.access_token

    def get_authentication_result(
        self, resource: str, tenant_id: str | None = None, force_refresh: bool = False
    ) -> AppAuthenticationResult:
        entry = self._entry(resource, tenant_id, force_refresh)
        return _result(entry, resource)

    async def get_access_token_async(
        self, resource: str, tenant_id: str | None = None, force_refresh: bool = False
    ) -> str:
        return (await self._entry_async(resource, tenant_id, force_refresh)).token.access_token

    async def get_authentication_result_async(
        self, resource: str, tenant_id: str | None = None, force_refresh: bool = False
    ) -> AppAuthenticationResult:
        return _result(await self._entry_async(resource, tenant_id, force_refresh), resource)

    @property
    def principal_used(self) -> Principal | None:
        """Who the last token this provider handed out was for; None before the first token."""
        return self._principal

    @property
    def cache_identity(self) -> str:
        """Who this provider's tokens are for, as its token cache tells identities apart: the method and the
        app or managed identity it names (never a secret), and the Entra host. Stable across processes
        configured alike: ``KeyVaultSecrets`` partitions its shared cache by it."""
        return f"{self._source.cache_identity}|{self._authority_host}"

    @property
    def method_used(self) -> str | None:
        """Which method produced the last token ("Azure CLI", "Managed identity (App Service)" ...)."""
        return self._method

    @property
    def skipped_methods(self) -> tuple[Attempt, ...]:
        """In the default chain: the methods tried before the one that worked, each with its reason."""
        skipped: tuple[Attempt, ...] = getattr(self._source, "skipped", ())
        return skipped

    def key_vault_token_callback(self, authority: str, resource: str, scope: str | None = None) -> str:
        """The .NET ``KeyVaultTokenCallback`` shape. Only the tenant is taken from ``authority`` (a
        challenge's URL): tokens are always requested from this provider's own Entra host."""
        tenant = urlsplit(authority).path.strip("/").split("/")[-1] or None
        return self.get_access_token(resource, tenant_id=tenant)

    # --- azure-core credential protocols ----------------------------------------------------------

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """azure-core ``TokenCredential``. ``claims`` (a claims challenge, decoded: continuous access
        evaluation, Conditional Access authentication context) forces a new token, which the methods that sign
        in through msal (client secret, certificates, workload identity) ask Entra ID for with those claims;
        the others (managed identity, developer tools) cannot send claims and get a new token without them.
        The new token replaces the cached one."""
        resource = resource_from_scopes(scopes)
        remembered = self._keys.get((resource, tenant_id))
        entry = self._peek(remembered) if remembered is not None and not claims else None
        if entry is None:
            entry = self._entry(resource, tenant_id, force_refresh=bool(claims), claims=claims or None)
        else:
            self._principal, self._method = entry.principal, entry.method
        return self._access_token(resource, tenant_id, entry)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        """azure-core ``SupportsTokenInfo`` (what SecretClient 4.9+ calls first); ``options["claims"]`` as
        ``get_token``'s ``claims``."""
        resource, tenant_id, claims = token_info_request(scopes, options)
        return token_info(self._entry(resource, tenant_id, force_refresh=bool(claims), claims=claims))

    def _token_info(self, scopes: tuple[str, ...], options: TokenRequestOptions) -> AccessTokenInfo:
        return self.get_token_info(*scopes, options=options)

    @property
    def aio(self) -> AsyncCredential:
        """This provider as an azure-core ``AsyncTokenCredential`` / ``AsyncSupportsTokenInfo``, for the
        ``.aio`` Azure SDK clients: ``SecretClient(url, credential=provider.aio)``. Same cache, same tokens.
        A new one on each access: it holds nothing but this provider, so any of them serves."""
        # Not kept on the provider: that would be a reference cycle, keeping every provider (its sources, their
        # HTTP sessions and locks) alive until the garbage collector runs. Not functools.cached_property either:
        # on Python 3.10/3.11 it holds one lock for every provider while it builds the value, which a process
        # forked at that moment would inherit held.
        return AsyncCredential(self)

    def close(self) -> None:
        """Nothing to release: sources own no resource that outlives a call. Present for azure-core."""

    # --- internals --------------------------------------------------------------------------------

    def _key(self, resource: str, tenant_id: str | None) -> tuple[str, str, str, str]:
        """Validates the arguments once per (resource, tenant) and remembers the cache key.
        `https://vault.azure.net` and `https://vault.azure.net/` share an entry (they are one resource)."""
        key = self._keys.get((resource, tenant_id))
        if key is None:
            _check(resource, tenant_id)
            key = (self._source.cache_identity, self._authority_host, tenant_id or "", resource.rstrip("/"))
            if len(self._keys) >= _MAX_REMEMBERED_KEYS:  # an app asking for endless tenants stays bounded
                self._keys.clear()
                self._access_tokens.clear()
            self._keys[(resource, tenant_id)] = key
        return key

    @clears_locals  # a source's frames, and msal's, azure-core's and requests' below them, hold credentials
    def _entry(
        self, resource: str, tenant_id: str | None, force_refresh: bool, claims: str | None = None
    ) -> CacheEntry:
        key = self._key(resource, tenant_id)
        entry = self._cache.get(key, lambda: self._fetch(resource, tenant_id, claims), force_refresh=force_refresh)
        self._principal, self._method = entry.principal, entry.method
        return entry

    async def _entry_async(
        self, resource: str, tenant_id: str | None, force_refresh: bool, claims: str | None = None
    ) -> CacheEntry:
        """The sync path, off the event loop; a cache hit (and a wrong argument) never leaves the loop's thread."""
        key = self._key(resource, tenant_id)
        if not force_refresh:
            entry = self._peek(key)
            if entry is not None:
                self._principal, self._method = entry.principal, entry.method
                return entry
        import asyncio  # imported here: most apps never await the provider, and asyncio costs ~40 ms to import

        return await asyncio.to_thread(self._entry, resource, tenant_id, force_refresh, claims)

    def _access_token(self, resource: str, tenant_id: str | None, entry: CacheEntry) -> AccessToken:
        """The azure-core ``AccessToken`` for ``entry``, built once per entry (a hit allocates nothing)."""
        key = self._keys[(resource, tenant_id)]
        built = self._access_tokens.get(key)
        if built is not None and built[0] is entry:
            return built[1]
        access = AccessToken(entry.token.access_token, int(entry.token.expires_on))
        self._access_tokens[key] = (entry, access)
        return access

    def _fetch(self, resource: str, tenant_id: str | None, claims: str | None = None) -> CacheEntry:
        # Sources get the resource without a trailing slash: managed-identity endpoints echo it into the
        # audience, and Key Vault refuses `https://vault.azure.net/` (AKV10022), a classic .NET-era failure.
        request = TokenRequest(resource.rstrip("/") or resource, tenant_id, self._authority_host, claims)
        try:
            token = self._source.get_token(request)
        except AzureServiceTokenProviderError as error:
            raise self._with_context(error, request) from error
        method = getattr(self._source, "selected", None) or self._source
        now = time.time()
        problem = _expiry_problem(token.expires_on, now)
        if problem is not None:
            # Handed out, an expired token would fail at the resource (and, cached, be fetched again on every
            # call); an expiry no date can hold would fail in expires_on.
            unusable = AzureServiceTokenProviderError(
                f"{method.name} answered with a token {problem}: the endpoint is misbehaving, or this machine's "
                "clock is wrong.",
                resource=request.resource,
                method=method.name,
            )
            raise self._with_context(unusable, request)
        principal = Principal.from_token(token.access_token)
        entry = new_entry(token, principal, method.name, now)
        logger.debug("Got a token for %s via %s (%s)", resource, method.name, fingerprint(token.access_token))
        return entry

    def _with_context(self, error: AzureServiceTokenProviderError, request: TokenRequest) -> Exception:
        """Add what was asked and with which (redacted) connection string, keeping the error's type."""
        if isinstance(error, ConnectionStringError) or (self._settings is None and error.attempts):
            return error  # a configuration error, or the chain's summary, which already says it all
        context = (
            f"connection string: {self._settings.redacted}"
            if self._settings
            else "connection string: none (default chain)"
        )
        authority = request.authority or self._authority_host
        message = f"{error.message}\n({context}; resource: {request.resource}; authority: {authority})"
        annotated = copy.copy(error)  # subclasses may take other constructor arguments
        annotated.message, annotated.args = message, (message,)
        annotated.resource, annotated.authority = request.resource, request.authority
        return annotated


def clear_token_cache() -> None:
    """Forget every cached token in this process (the .NET library had no way to: its issue #6967)."""
    shared_cache.clear()


def _expiry_problem(expires_on: float, now: float) -> str | None:
    if not math.isfinite(expires_on) or expires_on > _LATEST_EXPIRY:
        return f"whose expiry cannot be right ({expires_on!r} s after 1970)"
    if expires_on <= now:
        return f"that had already expired ({now - expires_on:.0f} s ago)"
    return None


def _result(entry: CacheEntry, resource: str) -> AppAuthenticationResult:
    return AppAuthenticationResult(
        access_token=entry.token.access_token,
        expires_on=dt.datetime.fromtimestamp(entry.token.expires_on, dt.timezone.utc),
        resource=resource,
        token_type=entry.token.token_type,
        tenant_id=entry.principal.tenant_id,
    )


def _check(resource: str, tenant_id: str | None) -> None:
    if not isinstance(resource, str) or not resource.strip():
        raise InvalidRequestError("resource is required, e.g. 'https://vault.azure.net'")
    if not is_valid_resource(resource):
        raise InvalidRequestError(
            f"resource {resource!r} has characters a resource identifier cannot have: only letters, digits "
            "and . : / - _ are allowed (e.g. 'https://vault.azure.net' or an app ID URI)",
            resource=resource,
        )
    if tenant_id is not None and not is_valid_tenant(tenant_id):
        raise InvalidRequestError(
            f"tenant_id {tenant_id!r} is not a tenant ID or domain (letters, digits, '-' and '.')", resource=resource
        )


def _normalise_instance(instance: str) -> str:
    if urlsplit(instance).scheme != "https" or not urlsplit(instance).netloc:
        raise ConnectionStringError(
            f"azure_ad_instance {instance!r} is not valid: it must be an https URL such as "
            "'https://login.microsoftonline.com/'",
            key="AzureAdInstance",
        )
    return instance if instance.endswith("/") else instance + "/"
