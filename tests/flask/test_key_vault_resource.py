"""``APPAUTH_KEY_VAULT_RESOURCE``: the one Key Vault resource besides Azure's that a vault's challenge may ask
a token for; a wrong value stops ``init_app`` naming the key."""

from __future__ import annotations

import pytest
from flask import g

from appauth_core import SecretAccessDeniedError, VaultResourceNotAllowedError
from appauth_core.web import ConfigError
from tests.hardening.test_security_vault_scope import authorization_headers, challenging_vault

RESOURCE = "https://vault.contoso.example"


def _read(app, name: str) -> str:
    with app.test_request_context("/"):
        app.preprocess_request()
        return str(g.appauth.secret(name))


def test_only_the_configured_resource_is_given_a_token(make_app, azure_emulator):
    vault = challenging_vault(azure_emulator, f'resource="{RESOURCE}"')
    try:
        with pytest.raises(VaultResourceNotAllowedError, match="APPAUTH_KEY_VAULT_RESOURCE"):
            _read(make_app(APPAUTH_KEY_VAULT_URL=vault.url), "db-password")
        assert authorization_headers(vault) == []

        app = make_app(APPAUTH_KEY_VAULT_URL=vault.url, APPAUTH_KEY_VAULT_RESOURCE=RESOURCE + "/")
        with pytest.raises(SecretAccessDeniedError):  # the listener refuses the token it was sent
            _read(app, "db-password")
        [header, *_] = authorization_headers(vault)
        assert azure_emulator.issuer.verify(header.removeprefix("Bearer "))["aud"] == RESOURCE
    finally:
        vault.stop()


@pytest.mark.parametrize(("value", "why"), [(["https://vault.contoso.example"], "must be a string"),
                                            ("https://vault.contoso.example/path", "no path")])  # fmt: skip
def test_a_wrong_resource_names_the_key(make_app, value, why):
    with pytest.raises(ConfigError, match=why) as caught:
        make_app(APPAUTH_KEY_VAULT_RESOURCE=value)
    assert caught.value.key == "APPAUTH_KEY_VAULT_RESOURCE"
