"""appauth core: Azure tokens (and, soon, Key Vault secrets) for Python apps, with no framework imports.

``AzureServiceTokenProvider`` gets tokens from the developer's sign-in locally and from a managed identity
or service principal in Azure, cached and refreshed; ``appauth_core.testing`` is the offline emulator.
"""

from .errors import (
    AppAuthError,
    Attempt,
    AzureServiceTokenProviderError,
    ConnectionStringError,
    InvalidRequestError,
    SourceUnavailableError,
)
from .provider import AzureServiceTokenProvider, clear_token_cache
from .result import AppAuthenticationResult, Principal

__version__ = "0.1.0"

__all__ = [
    "AppAuthError",
    "AppAuthenticationResult",
    "Attempt",
    "AzureServiceTokenProvider",
    "AzureServiceTokenProviderError",
    "ConnectionStringError",
    "InvalidRequestError",
    "Principal",
    "SourceUnavailableError",
    "__version__",
    "clear_token_cache",
]
