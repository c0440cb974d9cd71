"""The small interface every token source implements, and the values it exchanges with the provider.

A source knows one way of getting a token (a managed-identity host, the Azure CLI, a client secret ...).
It does no caching and no retries beyond its own protocol's rules: the provider's cache sits in front.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com/"

# Resources and tenants reach command lines (Azure CLI, Visual Studio) and URLs: only these characters.
# The .NET library allowed ``[0-9a-zA-Z-.:/]`` for resources; we add ``_`` as azure-identity does.
_RESOURCE_PATTERN = re.compile(r"^[0-9A-Za-z_\-.:/]+$")
_TENANT_PATTERN = re.compile(r"^[0-9A-Za-z\-.]+$")


def is_valid_resource(resource: str) -> bool:
    return bool(_RESOURCE_PATTERN.fullmatch(resource))


def is_valid_tenant(tenant_id: str) -> bool:
    # "." and ".." are path segments: in ``{host}{tenant}/oauth2/...`` they would lead the request elsewhere.
    return bool(_TENANT_PATTERN.fullmatch(tenant_id)) and tenant_id not in (".", "..")


@dataclass(frozen=True)
class TokenRequest:
    """What the caller asked for. ``resource`` is as given (no ``/.default``). ``claims``: a claims challenge
    a resource answered with (continuous access evaluation, Conditional Access authentication context), as the
    JSON Entra ID expects in its ``claims`` parameter; the sources that sign in through msal send it, the others
    (managed identity, developer tools) cannot and get a new token without it."""

    resource: str
    tenant_id: str | None = None
    authority_host: str = DEFAULT_AUTHORITY_HOST  # always ends with "/"
    claims: str | None = None

    @property
    def scope(self) -> str:
        """The v2 scope for this resource: ``https://vault.azure.net/.default``."""
        return self.resource.rstrip("/") + "/.default"

    @property
    def authority(self) -> str:
        """``{host}{tenant}`` when a tenant is known, else ``""`` (as the .NET library reports it)."""
        return f"{self.authority_host}{self.tenant_id}" if self.tenant_id else ""


@dataclass(frozen=True)
class SourceToken:
    """A token as a source obtained it. Times are Unix epoch seconds."""

    access_token: str = field(repr=False)
    expires_on: float
    token_type: str = "Bearer"
    refresh_on: float | None = None


@runtime_checkable
class TokenSource(Protocol):
    """One way of getting a token.

    ``name`` is what error messages call it ("Managed identity (App Service)", "Azure CLI").
    ``cache_identity`` tells apart the identities a cache must not mix: it holds every input that selects
    whose token the source gets (the managed-identity endpoint, client id and a fingerprint of its header;
    the Azure CLI's configuration folder; the token-provider or federated token file; the app, tenant and
    credential), so two sources that could answer for different identities never share a cached token.
    It never contains a secret (a fingerprint stands in).

    ``get_token`` raises ``SourceUnavailableError`` only when the method cannot work here at all (not
    installed, not signed in, not announced by the environment), setting ``retry_after`` when it may work
    later; the default chain moves on for that alone. When the method is here but failed it raises any
    other ``AzureServiceTokenProviderError``, which ends a chain: a failing managed identity must never be
    traded for another identity. The message names the fix.
    """

    @property
    def name(self) -> str: ...

    @property
    def cache_identity(self) -> str: ...

    def get_token(self, request: TokenRequest) -> SourceToken: ...
