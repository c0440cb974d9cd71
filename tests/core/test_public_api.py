"""The names users type are a contract: this fails if one disappears or an unplanned one appears."""

from __future__ import annotations

import subprocess
import sys

import appauth_core

EXPECTED = {
    "AppAuthError", "AppAuthenticationResult", "Attempt", "AzureServiceTokenProvider",
    "AzureServiceTokenProviderError", "ConnectionStringError", "InvalidReferenceError", "InvalidRequestError",
    "InvalidSecretNameError", "KeyVaultConfigurationError", "KeyVaultError", "KeyVaultSecrets",
    "KeyVaultUnavailableError", "Principal", "RedisSecretCache", "SecretAccessDeniedError", "SecretDisabledError",
    "SecretMetadata", "SecretNotFoundError", "SharedSecretCache", "SourceUnavailableError", "VaultNotAllowedError",
    "SecretWaitTimeoutError", "TokenWaitTimeoutError", "CaBundleError",
    "VaultResourceNotAllowedError",
    "UntrustedProgramError",
    "AppAuthNotInitialisedError", "AppAuthServices", "RequestAppAuth",
    "ConfigError", "TemplateSecretNotAllowedError", "ReferenceResolutionError", "CertificateStoreError",
    "TokenEndpointError",
    "TokenValidator", "Caller", "TokenValidationError", "InsufficientScopeError", "SigningKeysUnavailableError",
    "RequestsTokenAuth", "HttpxTokenAuth", "DownstreamApi",
    "DatabaseSignInError",
    "__version__", "clear_token_cache", "is_reference",
}  # fmt: skip


def test_exported_names():
    assert set(appauth_core.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(appauth_core, name) is not None


def test_error_tree():
    assert issubclass(appauth_core.ConnectionStringError, appauth_core.AzureServiceTokenProviderError)
    assert issubclass(appauth_core.ConnectionStringError, ValueError)
    assert issubclass(appauth_core.KeyVaultError, appauth_core.AppAuthError)
    assert issubclass(appauth_core.AzureServiceTokenProviderError, appauth_core.AppAuthError)
    assert issubclass(appauth_core.UntrustedProgramError, appauth_core.AzureServiceTokenProviderError)
    assert not issubclass(appauth_core.UntrustedProgramError, appauth_core.SourceUnavailableError)  # chain stops
    refused = appauth_core.VaultResourceNotAllowedError
    assert issubclass(refused, appauth_core.KeyVaultError)
    assert issubclass(refused, appauth_core.AzureServiceTokenProviderError)  # raised where a token was asked for


def test_wait_timeouts_are_in_the_family_of_what_was_waited_for():
    assert issubclass(appauth_core.TokenWaitTimeoutError, appauth_core.AzureServiceTokenProviderError)
    assert issubclass(appauth_core.SecretWaitTimeoutError, appauth_core.KeyVaultUnavailableError)


def test_not_initialised_is_what_probing_code_and_flask_extensions_expect():
    error = appauth_core.AppAuthNotInitialisedError
    assert issubclass(error, appauth_core.AppAuthError)
    assert issubclass(error, AttributeError)  # hasattr(), getattr(..., None)
    assert issubclass(error, RuntimeError)  # what Flask extensions raise without init_app


def test_the_core_never_imports_a_web_framework():
    code = (
        "import pkgutil, importlib, sys, appauth_core\n"
        "for m in pkgutil.walk_packages(appauth_core.__path__, 'appauth_core.'):\n"
        "    if not m.name.startswith('appauth_core.testing.pytest_plugin'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('django', 'flask', 'werkzeug', 'jinja2')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
