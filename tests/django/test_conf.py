"""APPAUTH settings: read into the core's config, re-read on setting_changed, every key honoured."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from appauth_core import AppAuthServices
from appauth_core.tokens import unverified_claims
from appauth_django import conf

from .conftest import service_principal

VAULT = "https://vault.azure.net"


def test_services_follow_override_settings(appauth_settings, azure_emulator):
    outer = conf.get_services()
    assert isinstance(outer, AppAuthServices)
    assert outer.config.key_vault_url == azure_emulator.vault.url
    assert conf.get_services() is outer  # built once, then kept
    with override_settings(APPAUTH={"KEY_VAULT_URL": "https://other.vault.azure.net/"}):
        inner = conf.get_services()
        assert inner is not outer
        assert inner.config.key_vault_url == "https://other.vault.azure.net/"
    assert conf.get_services().config.key_vault_url == azure_emulator.vault.url


def test_caches_change_rebuilds_the_services(appauth_settings):
    before = conf.get_services()
    appauth_settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    assert conf.get_services() is not before


def test_every_key_is_read(settings):
    settings.APPAUTH = {
        "CONNECTION_STRING": "RunAs=Developer; DeveloperTool=AzureCli",
        "AZURE_AD_INSTANCE": "https://login.microsoftonline.us/",
        "KEY_VAULT_URL": "https://myvault.vault.azure.net/",
        "SECRET_CACHE_SECONDS": 60,
        "TEMPLATE_SECRETS": ["public-banner"],
        "RESOLVE_REFERENCES": False,
        "CACHE": "default",
        "CACHE_ENCRYPTION_KEY": "not-read-until-used",
        "ALLOWED_VAULT_HOSTS": ["vault.contoso.example"],
    }
    config = conf.read_config()
    assert config.connection_string == "RunAs=Developer; DeveloperTool=AzureCli"
    assert config.azure_ad_instance == "https://login.microsoftonline.us/"
    assert config.key_vault_url == "https://myvault.vault.azure.net/"
    assert config.secret_cache_seconds == 60
    assert config.template_secrets == frozenset({"public-banner"})
    assert config.resolve_references is False
    assert config.cache == "default"
    assert config.allowed_vault_hosts == ("vault.contoso.example",)


def test_defaults_when_appauth_is_absent(settings):
    del settings.APPAUTH
    config = conf.read_config()
    assert (config.connection_string, config.key_vault_url, config.template_secrets) == (None, None, frozenset())
    assert config.resolve_references is True


def test_unknown_key_is_an_error_naming_the_closest_key(settings):
    settings.APPAUTH = {"KEYVAULT_URL": "https://myvault.vault.azure.net/"}
    with pytest.raises(
        ImproperlyConfigured, match=r"APPAUTH\['KEYVAULT_URL'\].*Did you mean APPAUTH\['KEY_VAULT_URL'\]"
    ):
        conf.get_services()


def test_references_inside_appauth_are_refused(settings):
    settings.APPAUTH = {"CONNECTION_STRING": "@Microsoft.KeyVault(VaultName=myvault;SecretName=cs)"}
    with pytest.raises(ImproperlyConfigured, match=r"APPAUTH\['CONNECTION_STRING'\] cannot be a @Microsoft.KeyVault"):
        conf.get_services()


def test_default_connection_string_comes_from_the_environment(
    settings, azure_emulator, azure_emulator_env, monkeypatch
):
    identity = azure_emulator.user_assigned_identity
    monkeypatch.setenv("AzureServicesAuthConnectionString", f"RunAs=App;AppId={identity.client_id}")
    settings.APPAUTH = {}
    token = conf.get_services().get_access_token(VAULT)
    assert unverified_claims(token)["appid"] == identity.client_id


def test_connection_string_setting_wins_over_the_environment(settings, azure_emulator, azure_emulator_env, monkeypatch):
    monkeypatch.setenv("AzureServicesAuthConnectionString", "RunAs=Developer; DeveloperTool=AzureCli")
    app = azure_emulator.app
    settings.APPAUTH = {
        "CONNECTION_STRING": service_principal(azure_emulator),
        "AZURE_AD_INSTANCE": azure_emulator.authority,
    }
    token = conf.get_services().get_access_token(VAULT)
    assert unverified_claims(token)["appid"] == app.app_id


def test_invalid_environment_connection_string_names_the_variable(settings, monkeypatch):
    monkeypatch.setenv("AzureServicesAuthConnectionString", "RunAs=Nobody")
    settings.APPAUTH = {}
    with pytest.raises(ImproperlyConfigured, match="AzureServicesAuthConnectionString environment variable"):
        conf.get_services()


def test_secret_cache_seconds(appauth_settings, azure_emulator, vault_secrets):
    conf.get_services().secret("api-key")
    conf.get_services().secret("api-key")
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1  # cached for 300 s by default
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "SECRET_CACHE_SECONDS": 0}
    azure_emulator.counters.reset()
    conf.get_services().secret("api-key")
    conf.get_services().secret("api-key")
    assert azure_emulator.counters["keyvault.local.get_secret"] == 2


@pytest.fixture
def other_vault(azure_emulator):
    vault = azure_emulator.vaults.get("other") or azure_emulator.add_vault("other")
    vault.set_secret("elsewhere", "from the other vault")
    return vault


def test_allowed_vault_hosts(appauth_settings, other_vault):
    reference = f"@Microsoft.KeyVault(SecretUri={other_vault.url}secrets/elsewhere/)"
    with pytest.raises(Exception, match="not an allowed Key Vault host"):
        conf.get_services().secrets.resolve(reference)
    host = other_vault.url.removeprefix("https://").rstrip("/")
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "ALLOWED_VAULT_HOSTS": [host]}
    assert conf.get_services().secrets.resolve(reference) == "from the other vault"
