"""``APPAUTH['KEY_VAULT_RESOURCE']``: the one Key Vault resource besides Azure's that a vault's challenge may
ask a token for. Without it a vault challenging for that resource gets no token; with it, it does; a wrong
value is a setting error that names the setting."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from appauth_core import SecretAccessDeniedError, VaultResourceNotAllowedError
from appauth_core.web import ConfigError
from appauth_django import conf
from tests.hardening.test_security_vault_scope import authorization_headers, challenging_vault

RESOURCE = "https://vault.contoso.example"


def test_only_the_configured_resource_is_given_a_token(appauth_settings, azure_emulator):
    vault = challenging_vault(azure_emulator, f'resource="{RESOURCE}"')
    try:
        appauth_settings.APPAUTH = {"KEY_VAULT_URL": vault.url}
        with pytest.raises(VaultResourceNotAllowedError, match=r"APPAUTH\['KEY_VAULT_RESOURCE'\]"):
            conf.get_services().secret("db-password")
        assert authorization_headers(vault) == []

        appauth_settings.APPAUTH = {"KEY_VAULT_URL": vault.url, "KEY_VAULT_RESOURCE": RESOURCE}
        assert conf.read_config().key_vault_resource == RESOURCE
        with pytest.raises(SecretAccessDeniedError):  # the listener refuses the token it was sent
            conf.get_services().secret("db-password")
        [header, *_] = authorization_headers(vault)
        assert azure_emulator.issuer.verify(header.removeprefix("Bearer "))["aud"] == RESOURCE
    finally:
        vault.stop()


@pytest.mark.parametrize(
    ("value", "why"), [(443, "must be a string"), ("http://vault.contoso.example", "must be https")]
)
def test_a_wrong_resource_names_the_setting(appauth_settings, value, why):
    with pytest.raises(ConfigError, match=why) as caught:
        conf.read_config({"KEY_VAULT_RESOURCE": value})
    assert caught.value.key == "APPAUTH['KEY_VAULT_RESOURCE']"
    assert "APPAUTH['KEY_VAULT_RESOURCE']" in str(caught.value)
    appauth_settings.APPAUTH = {"KEY_VAULT_RESOURCE": value}
    with pytest.raises(ImproperlyConfigured, match=r"APPAUTH\['KEY_VAULT_RESOURCE'\]"):
        conf.get_services()
