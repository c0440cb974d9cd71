"""appauth core: Azure tokens and Key Vault secrets for Python apps, with no framework imports.

``AzureServiceTokenProvider`` gets tokens from the developer's sign-in locally and from a managed identity
or service principal in Azure, cached and refreshed; ``KeyVaultSecrets`` reads, caches and refreshes
secrets and resolves ``@Microsoft.KeyVault(...)`` references; ``appauth_core.testing`` is the offline
emulator. The Django and Flask adapters (``appauth_django``, ``appauth_flask``) only wire these in.
"""

from typing import TYPE_CHECKING, Any

from .calls import DownstreamApi, RequestsTokenAuth
from .errors import (
    AppAuthError,
    AppAuthNotInitialisedError,
    Attempt,
    AzureServiceTokenProviderError,
    CaBundleError,
    CertificateStoreError,
    ConfigError,
    ConnectionStringError,
    DatabaseSignInError,
    InsufficientScopeError,
    InvalidReferenceError,
    InvalidRequestError,
    InvalidSecretNameError,
    KeyVaultConfigurationError,
    KeyVaultError,
    KeyVaultUnavailableError,
    ReferenceResolutionError,
    SecretAccessDeniedError,
    SecretDisabledError,
    SecretNotFoundError,
    SecretWaitTimeoutError,
    SigningKeysUnavailableError,
    SourceUnavailableError,
    TemplateSecretNotAllowedError,
    TokenEndpointError,
    TokenValidationError,
    TokenWaitTimeoutError,
    UntrustedProgramError,
    VaultNotAllowedError,
    VaultResourceNotAllowedError,
)
from .keyvault._secrets import KeyVaultSecrets, RedisSecretCache, SecretMetadata, SharedSecretCache, is_reference
from .tokens._provider import AzureServiceTokenProvider, clear_token_cache
from .tokens._result import AppAuthenticationResult, Principal
from .validation import Caller, TokenValidator
from .web._request_appauth import RequestAppAuth
from .web._services import AppAuthServices

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .calls import HttpxTokenAuth


def __getattr__(name: str) -> Any:
    """``HttpxTokenAuth`` comes from ``appauth_core.calls`` on first use: appauth imports without httpx."""
    if name == "HttpxTokenAuth":
        from .calls import HttpxTokenAuth

        return HttpxTokenAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AppAuthError",
    "AppAuthNotInitialisedError",
    "AppAuthServices",
    "AppAuthenticationResult",
    "Attempt",
    "AzureServiceTokenProvider",
    "AzureServiceTokenProviderError",
    "CaBundleError",
    "Caller",
    "CertificateStoreError",
    "ConfigError",
    "ConnectionStringError",
    "DatabaseSignInError",
    "DownstreamApi",
    "HttpxTokenAuth",
    "InsufficientScopeError",
    "InvalidReferenceError",
    "InvalidRequestError",
    "InvalidSecretNameError",
    "KeyVaultConfigurationError",
    "KeyVaultError",
    "KeyVaultSecrets",
    "KeyVaultUnavailableError",
    "Principal",
    "RedisSecretCache",
    "ReferenceResolutionError",
    "RequestAppAuth",
    "RequestsTokenAuth",
    "SecretAccessDeniedError",
    "SecretDisabledError",
    "SecretMetadata",
    "SecretNotFoundError",
    "SecretWaitTimeoutError",
    "SharedSecretCache",
    "SigningKeysUnavailableError",
    "SourceUnavailableError",
    "TemplateSecretNotAllowedError",
    "TokenEndpointError",
    "TokenValidationError",
    "TokenValidator",
    "TokenWaitTimeoutError",
    "UntrustedProgramError",
    "VaultNotAllowedError",
    "VaultResourceNotAllowedError",
    "__version__",
    "clear_token_cache",
    "is_reference",
]
