"""``APPAUTH['VAULT_SUFFIX']``: ``VaultName=`` references in the settings resolve under it (the emulator's
``127.0.0.1:<port>`` locally), and a wrong value is a setting error that names the setting."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from appauth_core.web import ConfigError
from appauth_django import conf, resolution


def _suffix(emulator) -> str:
    return emulator.vault.url.removeprefix("https://").rstrip("/")  # 127.0.0.1:<port>


def test_vault_name_references_in_the_settings_resolve_under_the_suffix(appauth_settings, azure_emulator):
    azure_emulator.vault.set_secret("suffix-db-password", "from the emulator")
    appauth_settings.APPAUTH = {"VAULT_SUFFIX": _suffix(azure_emulator)}
    appauth_settings.DB_PASSWORD = "@Microsoft.KeyVault(VaultName=contoso-prod;SecretName=suffix-db-password)"
    assert conf.read_config().vault_suffix == _suffix(azure_emulator)

    assert resolution.resolve_settings_references() == ["DB_PASSWORD"]
    assert django_settings.DB_PASSWORD == "from the emulator"


def test_without_the_suffix_the_reference_names_the_public_cloud(appauth_settings, azure_emulator):
    appauth_settings.APPAUTH = {"RESOLVE_REFERENCES": False}
    appauth_settings.DB_PASSWORD = "@Microsoft.KeyVault(VaultName=contoso-prod;SecretName=db-password)"
    assert conf.read_config().vault_suffix == "vault.azure.net"
    assert [m.id for m in run_checks() if m.id.startswith("appauth.E")] == []  # contoso-prod.vault.azure.net
    appauth_settings.APPAUTH = {"RESOLVE_REFERENCES": False, "VAULT_SUFFIX": _suffix(azure_emulator)}
    appauth_settings.OTHER = "@Microsoft.KeyVault(SecretUri=https://127.0.0.2:8443/secrets/db-password)"
    errors = [m for m in run_checks() if m.id == "appauth.E002"]
    assert [m.msg.split(":")[0] for m in errors] == ["OTHER"]  # the suffix allows its own vault, nothing else
    assert azure_emulator.counters["keyvault"] == 0


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (8443, "must be a string"),
        ("10.0.0.5:8443", "not loopback"),
        ("https://127.0.0.1:8443", "not a vault suffix"),
        ("vault azure net", "not a vault suffix"),
    ],
)
def test_a_wrong_suffix_names_the_setting(appauth_settings, value, why):
    with pytest.raises(ConfigError, match=why) as caught:
        conf.read_config({"VAULT_SUFFIX": value})
    assert caught.value.key == "APPAUTH['VAULT_SUFFIX']"
    assert "APPAUTH['VAULT_SUFFIX']" in str(caught.value)
    appauth_settings.APPAUTH = {"VAULT_SUFFIX": value}
    with pytest.raises(ImproperlyConfigured, match=r"APPAUTH\['VAULT_SUFFIX'\]"):
        conf.get_services()
