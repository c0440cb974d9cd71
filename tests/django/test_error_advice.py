"""A Django user's mistakes get advice in Django's words (issue 15, item 3): ``APPAUTH['ALLOWED_VAULT_HOSTS']``,
never ``KeyVaultSecrets(allowed_hosts=...)``; a TLS or network failure is never answered with a role to grant;
a message says each thing once and ends once."""

from __future__ import annotations

from typing import Any

import certifi
import pytest
from django.core.exceptions import ImproperlyConfigured

from appauth_core import (
    AzureServiceTokenProviderError,
    KeyVaultUnavailableError,
    SecretAccessDeniedError,
)
from appauth_core.testing import AzureEmulator
from appauth_django import conf, resolution

from ..core.secrets_support import free_port, without_vault_retries
from ..core.test_error_advice import leave_no_identity

ROLE = "Key Vault Secrets User"


@pytest.fixture
def no_vault_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failures here are not transient: azure-core's retries would only make each test wait."""
    without_vault_retries(monkeypatch)


def startup_failure(settings: Any, **references: str) -> str:
    for name, reference in references.items():
        setattr(settings, name, reference)
    with pytest.raises(ImproperlyConfigured) as caught:
        resolution.resolve_settings_references()
    return str(caught.value)


def test_a_vault_that_is_not_allowed_names_the_django_setting(appauth_settings: Any) -> None:
    message = startup_failure(
        appauth_settings, API_KEY="@Microsoft.KeyVault(SecretUri=https://kv.contoso.example/secrets/api-key)"
    )
    assert "add it to APPAUTH['ALLOWED_VAULT_HOSTS']" in message
    assert "KeyVaultSecrets(" not in message and "allowed_hosts" not in message
    assert ".. " not in message and not message.endswith("..")  # each sentence ends once


def test_an_untrusted_vault_certificate_at_startup_is_not_answered_with_a_role(
    appauth_settings: Any, azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, no_vault_retries: None
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # the public CAs only: not the emulator's
    message = startup_failure(
        appauth_settings, API_KEY=f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/api-key)"
    )
    assert "API_KEY" in message
    assert "its TLS certificate is not trusted" in message and "REQUESTS_CA_BUNDLE" in message
    assert ROLE not in message and "role" not in message


def test_a_ca_bundle_that_was_moved_stops_startup_naming_the_variable(
    appauth_settings: Any, azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "moved-ca.pem"))
    message = startup_failure(
        appauth_settings, API_KEY=f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/api-key)"
    )
    assert "API_KEY: CaBundleError: REQUESTS_CA_BUNDLE names the CA bundle" in message
    assert "which does not exist" in message and ROLE not in message
    assert azure_emulator.counters["keyvault"] == 0


def test_a_vault_name_under_the_wrong_suffix_names_the_django_setting(
    appauth_settings: Any, no_vault_retries: None
) -> None:
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "VAULT_SUFFIX": "vault.invalid"}
    message = startup_failure(appauth_settings, API_KEY="@Microsoft.KeyVault(VaultName=myvualt;SecretName=api-key)")
    assert "the host name myvualt.vault.invalid does not resolve" in message
    assert "VaultName= references resolve under APPAUTH['VAULT_SUFFIX'] ('vault.invalid')" in message
    assert ROLE not in message


def test_request_appauth_on_a_refused_vault_names_appauth_key_vault_url(
    appauth_settings: Any, client: Any, no_vault_retries: None
) -> None:
    appauth_settings.APPAUTH = {"KEY_VAULT_URL": f"https://127.0.0.1:{free_port()}/"}
    with pytest.raises(KeyVaultUnavailableError) as caught:
        client.get("/secret/sync", {"name": "db-password"})
    assert caught.value.setting == "APPAUTH['KEY_VAULT_URL']"
    assert "Check the host and port in APPAUTH['KEY_VAULT_URL']" in str(caught.value)
    assert ROLE not in str(caught.value)


def test_a_403_in_a_view_names_the_role_and_the_apps_identity(
    appauth_settings: Any, azure_emulator: AzureEmulator, client: Any
) -> None:
    app = azure_emulator.register_app(secret="django-denied-secret", vault_permissions=frozenset({"list"}))
    signed_in = f"RunAs=App;AppId={app.app_id};TenantId={azure_emulator.tenant_id};AppKey=django-denied-secret"
    appauth_settings.APPAUTH = {
        **appauth_settings.APPAUTH,
        "CONNECTION_STRING": signed_in,
        "AZURE_AD_INSTANCE": azure_emulator.authority,
    }
    azure_emulator.vault.set_secret("django-denied", "value")
    with pytest.raises(SecretAccessDeniedError) as caught:
        client.get("/secret/sync", {"name": "django-denied"})
    assert f"Give the app {app.app_id} (object ID {app.object_id}) the '{ROLE}' role on the vault" in str(caught.value)


def test_a_quoted_connection_string_setting_is_not_told_about_windows_set(appauth_settings: Any) -> None:
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "CONNECTION_STRING": '"RunAs=App"'}
    with pytest.raises(ImproperlyConfigured) as caught:
        conf.get_services()
    message = str(caught.value)
    assert "Remove the surrounding quotes from APPAUTH['CONNECTION_STRING']" in message
    assert "set AzureServicesAuthConnectionString" not in message


def test_no_identity_at_all_names_appauth_connection_string(
    appauth_settings: Any, client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    leave_no_identity(monkeypatch, tmp_path)
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        client.get("/token/sync")
    assert "give a connection string in APPAUTH['CONNECTION_STRING'] or the AzureServicesAuthConnectionString" in str(
        caught.value
    )
