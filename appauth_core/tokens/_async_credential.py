"""``provider.aio``: an ``AzureServiceTokenProvider`` as an azure-core async credential, for
``azure.keyvault.secrets.aio.SecretClient``, ``azure.storage.blob.aio.BlobServiceClient`` and every other
``.aio`` Azure SDK client.

It wraps the sync provider and copies none of it (httpx's rule: async wraps, never copies): the same
argument checks, the same process-wide token cache, the same single flight per token, so async and sync
callers asking for one token at once cause one upstream request. A cached token is answered on the event
loop's thread; a token that must be fetched or refreshed is fetched on a worker thread
(``asyncio.to_thread``), so a slow identity endpoint never blocks the loop.

Views get it as ``request.appauth.aio`` / ``g.appauth.aio``, which templates see: like ``RequestAppAuth``,
it reaches nothing by attribute (the provider sits in a slot whose descriptor is taken off the class) and no
template engine may call its methods (``alters_data``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, NoReturn, Protocol, final

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from ._cache import CacheEntry
from ._scopes import resource_from_scopes, token_info, token_info_request


class _Provider(Protocol):
    """What the async face uses of ``AzureServiceTokenProvider`` (which imports this module to offer ``.aio``)."""

    async def _entry_async(
        self, resource: str, tenant_id: str | None, force_refresh: bool, claims: str | None = None
    ) -> CacheEntry: ...

    def _access_token(self, resource: str, tenant_id: str | None, entry: CacheEntry) -> AccessToken: ...

    def close(self) -> None: ...


@final
class AsyncCredential:
    """azure-core ``AsyncTokenCredential`` and ``AsyncSupportsTokenInfo`` over one provider; get it as
    ``provider.aio``. Holds no state of its own: whatever it does, the provider's sync face sees, and back."""

    __slots__ = ("_provider",)

    def __init__(self, provider: _Provider) -> None:
        _PROVIDER.__set__(self, provider)

    def __repr__(self) -> str:  # no connection string, not even redacted: views and templates may show it
        return f"<{type(self).__name__} of {type(_provider_of(self)).__name__}>"

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """``AsyncTokenCredential.get_token``: what the sync ``get_token`` answers. One ``<resource>/.default``
        scope; a claims challenge (CAE) forces a fresh token, asked for with those claims where the method can
        send them (as the sync ``get_token``); ``enable_cae`` alone changes nothing (the sources' tokens are the
        same either way)."""
        provider = _provider_of(self)
        resource = resource_from_scopes(scopes)
        entry = await provider._entry_async(resource, tenant_id, force_refresh=bool(claims), claims=claims or None)
        return provider._access_token(resource, tenant_id, entry)

    async def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        """``AsyncSupportsTokenInfo.get_token_info`` (what the ``.aio`` Key Vault clients call): what the
        sync ``get_token_info`` answers, with ``refresh_on`` when the cache will renew the token."""
        resource, tenant_id, claims = token_info_request(scopes, options)
        return token_info(await _provider_of(self)._entry_async(resource, tenant_id, bool(claims), claims))

    async def close(self) -> None:
        """Nothing to release (the provider owns no connection that outlives a call): after ``close`` or
        ``async with``, the provider and this credential keep working, as clients that share them expect."""
        _provider_of(self).close()

    async def __aenter__(self) -> AsyncCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()

    # One provider's view, made on each ``provider.aio``: a copy is the same object, and it is not pickled (the
    # provider holds locks and sessions).
    def __copy__(self) -> AsyncCredential:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> AsyncCredential:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("AsyncCredential cannot be pickled: use provider.aio where it is needed")


# The slot's descriptor, taken off the class: ``credential._provider`` is then an AttributeError for everyone
# (a template engine included), while this module still reads and writes the slot through it.
_PROVIDER = AsyncCredential.__dict__["_provider"]
delattr(AsyncCredential, "_provider")


def _provider_of(credential: AsyncCredential) -> _Provider:
    provider: _Provider = _PROVIDER.__get__(credential, AsyncCredential)
    return provider


# A token, or a close: no template engine may call these (Django's ``alters_data``, which Jinja's sandbox also
# honours), should a template context reach the credential through ``request.appauth`` or ``g.appauth``.
for _name in ("get_token", "get_token_info", "close"):
    setattr(getattr(AsyncCredential, _name), "alters_data", True)  # noqa: B010 - a function attribute
