"""A Flask user's mistakes get advice in Flask's words (issue 15, item 3): ``APPAUTH_ALLOWED_VAULT_HOSTS``,
``APPAUTH_VAULT_SUFFIX``, ``APPAUTH_CONNECTION_STRING``, never a constructor argument; a TLS or network
failure is never answered with a role to grant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import certifi
import pytest
from flask import Flask, g

from appauth_core import (
    AzureServiceTokenProviderError,
    KeyVaultUnavailableError,
    SecretAccessDeniedError,
)
from appauth_core.testing import AzureEmulator
from appauth_core.web import ConfigError, ReferenceResolutionError
from appauth_flask import AppAuth
from tests.core.secrets_support import without_vault_retries
from tests.core.test_error_advice import leave_no_identity
from tests.flask.support import free_port, reference

ROLE = "Key Vault Secrets User"
MakeApp = Callable[..., Flask]


@pytest.fixture
def no_vault_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The failures here are not transient: azure-core's retries would only make each test wait."""
    without_vault_retries(monkeypatch)


def test_a_vault_that_is_not_allowed_names_the_flask_key(make_app: MakeApp) -> None:
    with pytest.raises(ReferenceResolutionError) as caught:
        make_app(API_KEY="@Microsoft.KeyVault(SecretUri=https://kv.contoso.example/secrets/api-key)")
    assert "add it to APPAUTH_ALLOWED_VAULT_HOSTS" in caught.value.reason
    assert "KeyVaultSecrets(" not in str(caught.value)


def test_an_untrusted_vault_certificate_is_not_answered_with_a_role(
    make_app: MakeApp, azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, no_vault_retries: None
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with pytest.raises(ReferenceResolutionError) as caught:
        make_app(API_KEY=reference(azure_emulator.vault.url, "api-key"))
    assert "its TLS certificate is not trusted" in caught.value.reason and "REQUESTS_CA_BUNDLE" in caught.value.reason
    assert ROLE not in str(caught.value)


def test_a_vault_name_under_the_wrong_suffix_names_the_flask_key(make_app: MakeApp, no_vault_retries: None) -> None:
    with pytest.raises(ReferenceResolutionError) as caught:
        make_app(
            APPAUTH_VAULT_SUFFIX="vault.invalid", API_KEY="@Microsoft.KeyVault(VaultName=myvualt;SecretName=api-key)"
        )
    assert "VaultName= references resolve under APPAUTH_VAULT_SUFFIX ('vault.invalid')" in caught.value.reason


def test_g_appauth_on_a_refused_vault_names_appauth_key_vault_url(make_app: MakeApp, no_vault_retries: None) -> None:
    app = make_app(APPAUTH_KEY_VAULT_URL=f"https://127.0.0.1:{free_port()}/")

    @app.route("/")
    def index() -> str:
        return str(g.appauth.secret("db-password"))

    with pytest.raises(KeyVaultUnavailableError) as caught:
        app.test_client().get("/")
    assert caught.value.setting == "APPAUTH_KEY_VAULT_URL"
    assert "Check the host and port in APPAUTH_KEY_VAULT_URL" in str(caught.value)


def test_a_403_names_the_role_and_the_apps_identity(make_app: MakeApp, azure_emulator: AzureEmulator) -> None:
    app_registration = azure_emulator.register_app(secret="flask-denied-secret", vault_permissions=frozenset({"list"}))
    azure_emulator.vault.set_secret("flask-denied", "value")
    app = make_app(
        APPAUTH_CONNECTION_STRING=(
            f"RunAs=App;AppId={app_registration.app_id};TenantId={azure_emulator.tenant_id};AppKey=flask-denied-secret"
        ),
        APPAUTH_AZURE_AD_INSTANCE=azure_emulator.authority,
    )

    @app.route("/")
    def index() -> str:
        return str(g.appauth.secret("flask-denied"))

    with pytest.raises(SecretAccessDeniedError) as caught:
        app.test_client().get("/")
    expected = f"Give the app {app_registration.app_id} (object ID {app_registration.object_id}) the '{ROLE}' role"
    assert expected in str(caught.value)


def test_a_quoted_connection_string_key_is_not_told_about_windows_set(make_app: MakeApp) -> None:
    with pytest.raises(ConfigError) as caught:
        make_app(APPAUTH_CONNECTION_STRING="'RunAs=App'")
    message = str(caught.value)
    assert caught.value.key == "APPAUTH_CONNECTION_STRING"
    assert "Remove the surrounding quotes from APPAUTH_CONNECTION_STRING" in message
    assert "set AzureServicesAuthConnectionString" not in message


def test_no_identity_at_all_names_appauth_connection_string(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    leave_no_identity(monkeypatch, tmp_path)
    appauth = AppAuth()
    app = make_app(appauth)
    with app.app_context(), pytest.raises(AzureServiceTokenProviderError) as caught:
        appauth.get_access_token("https://vault.azure.net")
    assert "give a connection string in APPAUTH_CONNECTION_STRING or the AzureServicesAuthConnectionString" in str(
        caught.value
    )
