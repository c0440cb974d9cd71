"""The token as the password: asked of the provider's process-wide cache for every new connection, so a
connection opened after the token was refreshed gets the new one and no connection costs an Entra request
(one per token lifetime, refreshed five minutes before expiry: ``tokens/_cache.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..tokens import AzureServiceTokenProvider
from ._resource import database_resource


@dataclass(frozen=True)
class TokenPassword:
    """Call it (or ``await get_async()``) for a currently valid access token to give as the password."""

    provider: AzureServiceTokenProvider = field(repr=False)
    resource: str

    @classmethod
    def for_provider(
        cls, provider: AzureServiceTokenProvider | None = None, resource: str | None = None, *, key: str = "resource"
    ) -> TokenPassword:
        """``provider`` (default: ``AzureServiceTokenProvider()``, the connection string from the environment or
        the default chain) and ``resource`` (default: the database resource of the provider's cloud)."""
        provider = provider if provider is not None else AzureServiceTokenProvider()
        authority_host = getattr(provider, "_authority_host", None)  # the cloud the provider signs in to
        return cls(provider, database_resource(resource, authority_host=authority_host, key=key))

    def __call__(self) -> str:
        return self.provider.get_access_token(self.resource)

    async def get_async(self) -> str:
        return await self.provider.get_access_token_async(self.resource)
