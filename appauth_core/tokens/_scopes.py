"""azure-core's side of a token request: one ``<resource>/.default`` scope in, ``AccessTokenInfo`` out.

Shared by the provider's sync face and its async one (``provider.aio``), so neither imports the other's module
for these.
"""

from __future__ import annotations

import functools

from azure.core.credentials import AccessTokenInfo, TokenRequestOptions

from ..errors import InvalidRequestError
from ._cache import CacheEntry

_DEFAULT_SUFFIX = "/.default"


def token_info_request(
    scopes: tuple[str, ...], options: TokenRequestOptions | None
) -> tuple[str, str | None, str | None]:
    """(resource, tenant, claims) of a ``get_token_info`` call: claims (a challenge) force a new token."""
    options = options or {}
    return resource_from_scopes(scopes), options.get("tenant_id"), options.get("claims") or None


def token_info(entry: CacheEntry) -> AccessTokenInfo:
    return AccessTokenInfo(
        entry.token.access_token,
        int(entry.token.expires_on),
        token_type=entry.token.token_type,
        refresh_on=int(entry.refresh_at),
    )


@functools.lru_cache(maxsize=256)
def resource_from_scopes(scopes: tuple[str, ...]) -> str:
    if len(scopes) != 1:
        raise InvalidRequestError(f"exactly one scope is supported, got {len(scopes)}: {list(scopes)}")
    scope = scopes[0]
    if not scope.endswith(_DEFAULT_SUFFIX):
        raise InvalidRequestError(
            f"scope {scope!r} is not a '<resource>/.default' scope; app and managed-identity tokens are "
            "per resource (e.g. 'https://vault.azure.net/.default')"
        )
    return scope[: -len(_DEFAULT_SUFFIX)]
