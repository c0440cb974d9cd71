"""``provider.aio``: an ``AzureServiceTokenProvider`` as an azure-core async credential, for
``azure.keyvault.secrets.aio.SecretClient``, ``azure.storage.blob.aio.BlobServiceClient`` and every other
``.aio`` Azure SDK client.

It wraps the sync provider and copies none of it (httpx's rule: async wraps, never copies): the same
argument checks, the same process-wide token cache, the same single flight per token, so async and sync
callers asking for one token at once cause one upstream request. A cached token is answered on the event
loop's thread; a token that must be fetched or refreshed is fetched on a worker thread
(``asyncio.to_thread``), so a slow identity endpoint never blocks the loop.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from .provider import AzureServiceTokenProvider, _resource_from_scopes, _token_info, _token_info_request


class AsyncCredential:
    """azure-core ``AsyncTokenCredential`` and ``AsyncSupportsTokenInfo`` over one provider; get it as
    ``provider.aio``. Holds no state of its own: whatever it does, the provider's sync face sees, and back."""

    def __init__(self, provider: AzureServiceTokenProvider) -> None:
        self._provider = provider

    def __repr__(self) -> str:  # no connection string, not even redacted: views may show this object
        return f"<{type(self).__name__} of {type(self._provider).__name__}>"

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """``AsyncTokenCredential.get_token``: what the sync ``get_token`` answers. One ``<resource>/.default``
        scope; a claims challenge (CAE) forces a fresh token; ``enable_cae`` alone changes nothing (the
        sources' tokens are the same either way)."""
        resource = _resource_from_scopes(scopes)
        entry = await self._provider._entry_async(resource, tenant_id, force_refresh=bool(claims))
        return self._provider._access_token(resource, tenant_id, entry)

    async def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        """``AsyncSupportsTokenInfo.get_token_info`` (what the ``.aio`` Key Vault clients call): what the
        sync ``get_token_info`` answers, with ``refresh_on`` when the cache will renew the token."""
        resource, tenant_id, force_refresh = _token_info_request(scopes, options)
        return _token_info(await self._provider._entry_async(resource, tenant_id, force_refresh))

    async def close(self) -> None:
        """Nothing to release (the provider owns no connection that outlives a call): after ``close`` or
        ``async with``, the provider and this credential keep working, as clients that share them expect."""
        self._provider.close()

    async def __aenter__(self) -> AsyncCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()


# A token, or a close: no template engine may call these (Django's ``alters_data``, which Jinja's sandbox also
# honours), should a template context reach the credential through ``request.appauth`` or ``g.appauth``.
for _name in ("get_token", "get_token_info", "close"):
    setattr(getattr(AsyncCredential, _name), "alters_data", True)  # noqa: B010 - a function attribute
