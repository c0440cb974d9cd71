"""System checks: one id per problem, all reported at once; the online checks really sign in and read."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.checks import CheckMessage, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from .conftest import service_principal

REDIS_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def ids(*, online: bool = False) -> list[str]:
    tags = ["appauth", "appauth_online"] if online else ["appauth"]
    return [message.id for message in run_checks(tags=tags, include_deployment_checks=online)]


def online(code: str) -> list[CheckMessage]:
    found = run_checks(tags=["appauth_online"], include_deployment_checks=True)
    return [message for message in found if message.id == code]


def messages(code: str) -> list[str]:
    return [m.msg for m in run_checks(tags=["appauth"]) if m.id == code]


def test_a_good_configuration_has_no_messages(appauth_settings):
    assert ids() == []


def test_e001_invalid_connection_string(settings):
    settings.APPAUTH = {"CONNECTION_STRING": "RunAs=App;AppId=not-a-guid;Colour=blue"}
    assert ids() == ["appauth.E001"]
    assert "APPAUTH['CONNECTION_STRING']" in messages("appauth.E001")[0]


def test_e001_from_the_environment(settings, monkeypatch):
    monkeypatch.setenv("AzureServicesAuthConnectionString", "RunAs=Sometimes")
    settings.APPAUTH = {}
    assert ids() == ["appauth.E001"]
    assert "AzureServicesAuthConnectionString" in messages("appauth.E001")[0]


def test_e001_never_shows_the_app_key(settings):
    settings.APPAUTH = {"CONNECTION_STRING": "RunAs=App;AppId=x;TenantId=t;AppKey=canary-app-key;Bogus=1"}
    assert ids() == ["appauth.E001"]
    assert "canary-app-key" not in messages("appauth.E001")[0]


@pytest.mark.parametrize(
    "url",
    ["http://myvault.vault.azure.net/", "https://myvault.vault.azure.net/secrets/x", "https://user:pw@v.example/"],
)
def test_e002_invalid_vault_url(settings, url):
    settings.APPAUTH = {"KEY_VAULT_URL": url}
    assert ids() == ["appauth.E002"]


def test_e002_invalid_allowed_host(settings):
    settings.APPAUTH = {"ALLOWED_VAULT_HOSTS": ["http://vault.contoso.example/x"]}
    assert ids() == ["appauth.E002"]


def test_e002_reference_to_a_vault_that_is_not_allowed(settings):
    settings.APPAUTH = {"RESOLVE_REFERENCES": False, "KEY_VAULT_URL": "https://myvault.vault.azure.net/"}
    settings.PAYMENT_API_KEY = "@Microsoft.KeyVault(SecretUri=https://vault.attacker.example/secrets/api-key/)"
    assert sorted(ids()) == ["appauth.E002", "appauth.W002"]
    assert "PAYMENT_API_KEY" in messages("appauth.E002")[0]


@pytest.mark.parametrize("value", ["public-banner", ["bad name!"], [""]])
def test_e003_bad_template_allow_list(settings, value):
    settings.APPAUTH = {"KEY_VAULT_URL": "https://myvault.vault.azure.net/", "TEMPLATE_SECRETS": value}
    assert ids() == ["appauth.E003"]


def test_e003_template_secrets_without_a_vault(settings):
    settings.APPAUTH = {"TEMPLATE_SECRETS": ["public-banner"]}
    assert ids() == ["appauth.E003"]


def test_e004_unknown_keys_all_reported(settings):
    settings.APPAUTH = {"KEYVAULT_URL": "https://myvault.vault.azure.net/", "TEMPLATE_SECRET": [], "Cache": "x"}
    assert ids() == ["appauth.E004"] * 3
    assert "Did you mean APPAUTH['KEY_VAULT_URL']?" in messages("appauth.E004")[0]


def test_e005_shared_cache_without_a_key(settings):
    settings.APPAUTH = {"CACHE": "default"}
    assert ids() == ["appauth.E005"]
    assert "CACHE_ENCRYPTION_KEY" in messages("appauth.E005")[0]


def test_e005_key_that_is_not_a_fernet_key(settings):
    settings.APPAUTH = {"CACHE": "default", "CACHE_ENCRYPTION_KEY": "canary-not-a-fernet-key"}
    assert ids() == ["appauth.E005"]
    assert "canary-not-a-fernet-key" not in messages("appauth.E005")[0]


def test_shared_cache_with_a_key_is_fine(settings):
    settings.APPAUTH = {"CACHE": "default", "CACHE_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    assert ids() == []


def test_e006_unknown_cache_alias(settings):
    settings.APPAUTH = {"CACHE": "secrets", "CACHE_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    assert ids() == ["appauth.E006"]


@pytest.mark.parametrize(
    "appauth",
    [
        "https://myvault.vault.azure.net/",
        {"SECRET_CACHE_SECONDS": "5 minutes"},
        {"RESOLVE_REFERENCES": "no"},
        {"CONNECTION_STRING": "@Microsoft.KeyVault(VaultName=myvault;SecretName=cs)"},
    ],
)
def test_e007_wrong_types(settings, appauth):
    settings.APPAUTH = appauth
    assert ids() == ["appauth.E007"]


def test_e008_invalid_azure_ad_instance(settings):
    settings.APPAUTH = {"AZURE_AD_INSTANCE": "http://login.microsoftonline.com/"}
    assert ids() == ["appauth.E008"]


def test_e009_malformed_reference(settings):
    settings.APPAUTH = {"RESOLVE_REFERENCES": False}
    settings.API_TOKEN = "@Microsoft.KeyVault(SecretUri=https://myvault.vault.azure.net/)"
    assert sorted(ids()) == ["appauth.E009", "appauth.W002"]


def test_w001_a_filter_that_shows_secrets(settings):
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    assert ids() == ["appauth.W001"]


def test_the_checks_stop_manage_py(settings):
    settings.APPAUTH = {"KEYVAULT_URL": "https://myvault.vault.azure.net/"}
    with pytest.raises(SystemCheckError, match=r"appauth.E004"):
        call_command("check")


def test_silenced(settings):
    settings.APPAUTH = {"KEYVAULT_URL": "x"}
    settings.SILENCED_SYSTEM_CHECKS = ["appauth.E004"]
    call_command("check")


# --- online checks (check --deploy --tag appauth_online) ------------------------------------------------------


def test_deploy_checks_pass_when_everything_is_readable(appauth_settings, azure_emulator, vault_secrets):
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "RESOLVE_REFERENCES": False}
    appauth_settings.API_KEY = f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/api-key/)"
    assert ids(online=True) == ["appauth.W002"]
    assert azure_emulator.counters["keyvault.local.get_secret"] == 2  # the template secret and the reference


def test_deploy_checks_read_each_referenced_secret(appauth_settings, azure_emulator, vault_secrets):
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "RESOLVE_REFERENCES": False}
    appauth_settings.API_KEY = f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/missing-key/)"
    found = online("appauth.E102")
    assert len(found) == 1
    assert "API_KEY" in found[0].msg
    assert "Key Vault Secrets User" not in found[0].hint  # a role does not create a missing secret
    assert "appauth check" in found[0].hint


def test_deploy_checks_advise_the_role_only_when_key_vault_refused_the_identity(
    appauth_settings, azure_emulator, vault_secrets
):
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "RESOLVE_REFERENCES": False}
    appauth_settings.API_KEY = f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/api-key/)"
    refused = {"error": {"code": "Forbidden", "message": "The user, group or application does not have secrets get"}}
    azure_emulator.faults.inject("keyvault.local.get_secret", status=403, body=refused, times=10)
    found = online("appauth.E102")
    assert found
    assert all("Key Vault Secrets User" in message.hint for message in found)


def test_deploy_checks_really_sign_in(settings, azure_emulator, azure_emulator_env):
    settings.APPAUTH = {
        "CONNECTION_STRING": service_principal(azure_emulator, "canary-wrong-key"),
        "AZURE_AD_INSTANCE": azure_emulator.authority,
    }
    found = online("appauth.E101")
    assert len(found) == 1
    assert "canary-wrong-key" not in found[0].msg
    assert ids() == []  # not part of a plain `check`
