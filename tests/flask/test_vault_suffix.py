"""``APPAUTH_VAULT_SUFFIX``: ``VaultName=`` references in the config resolve under it (the emulator's
``127.0.0.1:<port>`` locally); a wrong value stops ``init_app`` naming the key."""

from __future__ import annotations

import pytest
from flask import Flask

from appauth_core.web import ConfigError
from appauth_flask import AppAuth


def _suffix(emulator) -> str:
    return emulator.vault.url.removeprefix("https://").rstrip("/")


def test_vault_name_references_in_the_config_resolve_under_the_suffix(azure_emulator, azure_emulator_env):
    azure_emulator.vault.set_secret("flask-suffix-key", "from the emulator")
    app = Flask(__name__)
    app.config.update(
        APPAUTH_VAULT_SUFFIX=_suffix(azure_emulator),
        SECRET_KEY="@Microsoft.KeyVault(VaultName=contoso-prod;SecretName=flask-suffix-key)",
    )
    AppAuth(app)
    assert app.extensions["appauth"].config.vault_suffix == _suffix(azure_emulator)
    assert app.config["SECRET_KEY"] == "from the emulator"


def test_the_suffix_does_not_open_the_allow_list_to_other_hosts(azure_emulator, azure_emulator_env):
    app = Flask(__name__)
    app.config.update(
        APPAUTH_VAULT_SUFFIX=_suffix(azure_emulator),
        SECRET_KEY=f"@Microsoft.KeyVault(SecretUri=https://127.0.0.2:{_suffix(azure_emulator).split(':')[1]}/secrets/x)",
    )
    with pytest.raises(Exception, match="not an allowed Key Vault host"):
        AppAuth(app)
    assert azure_emulator.counters["keyvault"] == 0


@pytest.mark.parametrize(("value", "why"), [(["127.0.0.1:8443"], "must be a string"), ("10.0.0.5", "not loopback")])
def test_a_wrong_suffix_names_the_key(azure_emulator_env, value, why):
    app = Flask(__name__)
    app.config["APPAUTH_VAULT_SUFFIX"] = value
    with pytest.raises(ConfigError, match=why) as caught:
        AppAuth(app)
    assert caught.value.key == "APPAUTH_VAULT_SUFFIX"
