"""The bugs the hardening suites found, one test each, by name (the matrix, the fuzzers and the SSRF tests catch
them too, among many cases; these say plainly what was wrong).

- A token source's already-expired token, or one whose expiry no date can hold, was handed out (and, cached,
  fetched again on every call; or ``get_authentication_result`` raised ``OverflowError``).
- A managed-identity reply with an empty ``access_token`` was handed out as the token.
- Entra ID answering 5xx, or JSON of the wrong shape (token endpoint or OpenID configuration), raised msal's
  ``MsalServiceError`` / ``RuntimeError`` or a raw ``TypeError``, ``AttributeError``, ``KeyError``,
  ``ValueError``.
- Key Vault answering 200 with JSON that is not a secret raised ``AttributeError``; with no ``value``, the secret
  was read as ``""``.
- Names, versions, tenants and resources with a trailing newline passed their checks (``$`` matches before a
  final ``\\n``): a request was sent for ``"db-password\\n"``.
- A vault URL with port 0 was checked as port 0 and would have been sent to 443 (urllib3's reading of ":0").
- ``CertificateThumbprint=0`` and a ``KeyVaultCertificateSecretIdentifier`` that is not a URI raised a plain
  ``ValueError`` from ``AzureServiceTokenProvider(...)``.
- (SSRF, in ``test_ssrf.py``) msal followed redirects: a 307 from the token endpoint re-posted the client secret
  to the redirect's host, whose answer was taken for a token.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from appauth_core import (
    AzureServiceTokenProvider,
    AzureServiceTokenProviderError,
    ConnectionStringError,
    InvalidReferenceError,
    InvalidRequestError,
    InvalidSecretNameError,
    KeyVaultConfigurationError,
    KeyVaultError,
    KeyVaultSecrets,
    TokenEndpointError,
)
from appauth_core.keyvault._references import parse_reference
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache

VAULT = "https://vault.azure.net"


def _service_principal(emulator: AzureEmulator) -> AzureServiceTokenProvider:
    app = emulator.app
    return AzureServiceTokenProvider(
        f"RunAs=App;AppId={app.app_id};TenantId={emulator.tenant_id};AppKey={app.secrets[0]}",
        emulator.authority,
        cache=TokenCache(),
    )


def _app_service_reply(emulator: AzureEmulator, expires_on: Any) -> dict[str, Any]:
    token = emulator.issue_token(VAULT, identity=emulator.directory.system_identity)
    return {"access_token": token.access_token, "expires_on": expires_on, "token_type": "Bearer", "resource": VAULT}


# --- expiry ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("expires_on", [str(int(time.time()) - 120), "1e300", 10**18])
def test_a_token_that_expired_or_cannot_expire_is_refused(azure_emulator: AzureEmulator, expires_on: Any) -> None:
    azure_emulator.faults.inject("mi.app_service", status=200, body=_app_service_reply(azure_emulator, expires_on))
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=azure_emulator.app_service_env())
    with pytest.raises(AzureServiceTokenProviderError, match="misbehaving, or this machine's clock is wrong"):
        provider.get_authentication_result(VAULT)


def test_a_refresh_that_brings_an_expired_token_keeps_the_valid_one(azure_emulator: AzureEmulator) -> None:
    now = [time.time()]
    provider = AzureServiceTokenProvider(
        "RunAs=App", cache=TokenCache(clock=lambda: now[0]), environ=azure_emulator.app_service_env()
    )
    first = provider.get_access_token(VAULT)
    now[0] += 13 * 3600  # past the refresh point of a 24-hour managed-identity token, before its expiry
    expired = _app_service_reply(azure_emulator, str(int(time.time()) - 60))
    azure_emulator.faults.inject("mi.app_service", status=200, body=expired)
    assert provider.get_access_token(VAULT) == first
    assert azure_emulator.counters["mi.app_service"] == 2  # the refresh was tried, and its token refused


def test_an_empty_token_is_no_token(azure_emulator: AzureEmulator) -> None:
    """Found by the long fuzzing run: a managed-identity reply with ``"access_token": ""`` was handed out."""
    reply = {"access_token": "", "expires_in": "3599", "token_type": "Bearer"}
    azure_emulator.faults.inject("mi.app_service", status=200, body=reply)
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=azure_emulator.app_service_env())
    with pytest.raises(AzureServiceTokenProviderError, match="no access_token"):
        provider.get_access_token(VAULT)


# --- Entra ID replies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "fault"),
    [
        ("entra.token", {"status": 500}),
        ("entra.token", {"status": 503, "headers": {"Retry-After": "1"}}),
        ("entra.token", {"status": 200, "body": ["a", "list"]}),
        ("entra.token", {"status": 200, "body": '"a string"'}),
        ("entra.token", {"status": 200, "body": {"access_token": "x", "expires_in": "soon"}}),
        ("entra.token", {"status": 200, "body": {"access_token": 5, "expires_in": 3599}}),
        ("entra.token", {"status": 200, "body": '{"access_token": "x", "expires_in": 3599, "refresh_in": Infinity}'}),
        ("entra.token", {"status": 200, "body": '{"access_token": "x", "expires_in": 3599, "refresh_in": -Infinity}'}),
        ("entra.token", {"status": 200, "body": {}}),
        ("entra.token", {"status": 400, "body": {"error": "invalid_client", "error_codes": ["x", None]}}),
        ("entra.token", {"status": 400, "body": {"error": "invalid_client", "error_codes": 7000215}}),
        ("entra.discovery", {"status": 500}),
        ("entra.discovery", {"status": 503}),
        ("entra.discovery", {"status": 302, "headers": {"Location": "https://127.0.0.1:9/"}}),
        ("entra.discovery", {"status": 200, "body": [1]}),
        ("entra.discovery", {"status": 200, "body": '"a string"'}),
        ("entra.discovery", {"status": 200, "body": {"issuer": "x"}}),
    ],
)
def test_entra_replies_msal_cannot_read_are_typed_errors(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], endpoint: str, fault: dict[str, Any]
) -> None:
    azure_emulator.faults.inject(endpoint, times=3, **fault)
    with pytest.raises(TokenEndpointError) as caught:
        _service_principal(azure_emulator).get_access_token(VAULT)
    assert azure_emulator.app.secrets[0] not in str(caught.value)


# --- Key Vault replies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        ["not", "a", "secret"],
        {"id": "https://v.vault.azure.net/secrets/s/0"},  # no value
        {"value": None, "id": "https://v.vault.azure.net/secrets/s/0"},
        {"value": "v", "id": "https://v.vault.azure.net/secrets/s/0", "tags": "not a dict"},
    ],
)
def test_key_vault_replies_that_are_not_a_secret(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], body: Any
) -> None:
    azure_emulator.faults.inject("keyvault.local.get_secret", status=200, body=body)
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache())
    expected = "answered 200 but not with a secret|reply that could not be read"
    with KeyVaultSecrets(azure_emulator.vault.url, provider) as secrets, pytest.raises(KeyVaultError, match=expected):
        secrets.get("any-name")


# --- a trailing newline --------------------------------------------------------------------------------------


def test_a_trailing_newline_is_not_a_name(azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> None:
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache())
    secrets = KeyVaultSecrets(azure_emulator.vault.url, provider)
    with pytest.raises(InvalidSecretNameError):
        secrets.get("db-password\n")
    with pytest.raises(InvalidSecretNameError):
        secrets.get("db-password", "0123abcd\n")
    with pytest.raises(InvalidRequestError):
        provider.get_access_token(VAULT + "\n")
    with pytest.raises(InvalidRequestError):
        provider.get_access_token(VAULT, tenant_id=azure_emulator.tenant_id + "\n")
    assert azure_emulator.counters["keyvault"] == azure_emulator.counters["mi"] == 0


# --- port 0 ------------------------------------------------------------------------------------------------


def test_port_zero_is_not_a_vault_port() -> None:
    """urllib3 connects to the scheme's default port for ":0", so an origin checked as port 0 would have been
    sent to 443 (found by the long fuzzing run; refused either way, as no allow-list entry has port 0)."""
    with pytest.raises(InvalidReferenceError, match="port 0"):
        parse_reference("@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net:0/secrets/x)")
    with pytest.raises(KeyVaultConfigurationError, match="port 0"):
        KeyVaultSecrets("https://myvault.vault.azure.net:0/")


# --- connection strings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("RunAs=App;AppId=a;TenantId=t;CertificateThumbprint=0;CertificateStoreLocation=CurrentUser",
         "CertificateThumbprint"),
        ("RunAs=App;AppId=a;KeyVaultCertificateSecretIdentifier=https://[v/secrets/c",
         "KeyVaultCertificateSecretIdentifier"),
        ("RunAs=App;AppId=a;KeyVaultCertificateSecretIdentifier=https://v.vault.azure.net:99999/secrets/c",
         "KeyVaultCertificateSecretIdentifier"),
    ],
)  # fmt: skip
def test_connection_strings_a_source_refuses_are_connection_string_errors(text: str, key: str) -> None:
    with pytest.raises(ConnectionStringError) as caught:
        AzureServiceTokenProvider(text, environ={})
    assert caught.value.key == key
