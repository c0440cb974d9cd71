"""Tokens: ``AzureServiceTokenProvider``, its process-wide cache, connection strings, the choice of source,
and ``sources/`` (one module per way of getting a token). Imports nothing from ``keyvault`` or ``web``.

Users import the public names from ``appauth_core``; the names here are what the layers above (``keyvault``,
``web``, the adapters) and the project's own tests and benchmarks use.
"""

from ._cache import TokenCache
from ._provider import AzureServiceTokenProvider, clear_token_cache
from ._result import AppAuthenticationResult, Principal
from ._token_claims import unverified_claims

__all__ = [
    "AppAuthenticationResult",
    "AzureServiceTokenProvider",
    "Principal",
    "TokenCache",
    "clear_token_cache",
    "unverified_claims",
]
