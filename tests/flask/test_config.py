"""Issue 6, item 1: ``AppAuth(app)`` / ``init_app``, the ``APPAUTH_*`` keys, and errors that name the key."""

from __future__ import annotations

import gc

import pytest
from flask import Flask
from flask_caching import Cache

import appauth_flask
from appauth_core.web import AppAuthServices, ConfigError, ReferenceResolutionError
from appauth_flask import AppAuth


def test_exported_names():
    assert appauth_flask.__all__ == ["AppAuth", "RequestAppAuth", "current_appauth"]


def test_constructor_with_app_initialises_it(azure_emulator, azure_emulator_env):
    app = Flask(__name__)
    app.config["APPAUTH_KEY_VAULT_URL"] = azure_emulator.vault.url
    AppAuth(app)
    services = app.extensions["appauth"]
    assert isinstance(services, AppAuthServices)
    assert services.config.key_vault_url == azure_emulator.vault.url
    assert not hasattr(AppAuth(), "app")


def test_every_key_is_read(make_app, azure_emulator):
    app = make_app(
        APPAUTH_CONNECTION_STRING="RunAs=App",
        APPAUTH_AZURE_AD_INSTANCE=azure_emulator.authority,
        APPAUTH_SECRET_CACHE_SECONDS=60,
        APPAUTH_TEMPLATE_SECRETS=["public-banner"],
        APPAUTH_RESOLVE_REFERENCES=False,
        APPAUTH_ALLOWED_VAULT_HOSTS=["vault.example.test"],
    )
    config = app.extensions["appauth"].config
    assert config.connection_string == "RunAs=App"
    assert config.azure_ad_instance == azure_emulator.authority
    assert config.secret_cache_seconds == 60
    assert config.template_secrets == {"public-banner"}
    assert config.resolve_references is False
    assert config.allowed_vault_hosts == ("vault.example.test",)


def test_defaults_need_no_config(azure_emulator_env):
    app = Flask(__name__)
    AppAuth().init_app(app)
    config = app.extensions["appauth"].config
    assert config.resolve_references is True
    assert config.key_vault_url is None
    assert config.template_secrets == frozenset()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("APPAUTH_CONNECTION_STRING", 42),
        ("APPAUTH_KEY_VAULT_URL", ["https://x.vault.azure.net/"]),
        ("APPAUTH_SECRET_CACHE_SECONDS", "300"),
        ("APPAUTH_SECRET_CACHE_SECONDS", -1),
        ("APPAUTH_TEMPLATE_SECRETS", "public-banner"),
        ("APPAUTH_RESOLVE_REFERENCES", "yes"),
        ("APPAUTH_ALLOWED_VAULT_HOSTS", [""]),
        ("APPAUTH_CACHE_ENCRYPTION_KEY", b"bytes"),
        ("APPAUTH_CACHE", "redis://127.0.0.1:6379/0"),
    ],
)
def test_a_wrong_value_names_its_key(make_app, key, value):
    with pytest.raises(ConfigError, match=key) as caught:
        make_app(**{key: value})
    assert caught.value.key == key


def test_unknown_appauth_key_names_the_key_and_suggests_one(make_app):
    with pytest.raises(ConfigError) as caught:
        make_app(APPAUTH_KEYVAULT_URL="https://x.vault.azure.net/")
    assert caught.value.key == "APPAUTH_KEYVAULT_URL"
    assert "Did you mean APPAUTH_KEY_VAULT_URL?" in str(caught.value)


def test_bad_connection_string_names_the_key_and_hides_the_app_key(make_app):
    app_key = "canary-appkey-5f0c2b"
    with pytest.raises(ConfigError) as caught:
        make_app(APPAUTH_CONNECTION_STRING=f"RunAs=App;AppId=x;TenantId=y;AppKey={app_key};Colour=blue")
    assert caught.value.key == "APPAUTH_CONNECTION_STRING"
    assert str(caught.value).startswith("APPAUTH_CONNECTION_STRING: ")
    assert app_key not in str(caught.value)
    assert app_key not in repr(caught.value.__cause__)


def test_bad_azure_ad_instance_names_its_key(make_app):
    with pytest.raises(ConfigError) as caught:
        make_app(APPAUTH_AZURE_AD_INSTANCE="http://login.example.test/")
    assert caught.value.key == "APPAUTH_AZURE_AD_INSTANCE"


def test_bad_connection_string_from_the_environment_names_the_variable(make_app, monkeypatch):
    monkeypatch.setenv("AzureServicesAuthConnectionString", "RunAs=Nobody")
    with pytest.raises(ConfigError, match="AzureServicesAuthConnectionString environment variable"):
        make_app()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("APPAUTH_KEY_VAULT_URL", "http://myvault.vault.azure.net/"),
        ("APPAUTH_KEY_VAULT_URL", "https://myvault.vault.azure.net/secrets/x"),
        ("APPAUTH_ALLOWED_VAULT_HOSTS", ["https://vault.example.test/some/path"]),
    ],
)
def test_vault_settings_the_core_rejects_name_their_key(make_app, key, value):
    with pytest.raises(ConfigError) as caught:
        make_app(**{key: value})
    assert caught.value.key == key


def test_a_setting_appauth_needs_to_reach_the_vault_cannot_be_a_reference(make_app, azure_emulator):
    reference = f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/conn)"
    with pytest.raises(ConfigError, match=r"APPAUTH_CONNECTION_STRING cannot be a @Microsoft\.KeyVault"):
        make_app(APPAUTH_CONNECTION_STRING=reference)


def test_flask_caching_cache_must_be_initialised_on_the_app(make_app):
    with pytest.raises(ConfigError, match=r"APPAUTH_CACHE .*cache.init_app\(app\)"):
        make_app(APPAUTH_CACHE=Cache(), APPAUTH_CACHE_ENCRYPTION_KEY="k" * 32)


def test_init_app_twice_on_one_app_is_an_error(make_app):
    app = make_app()
    with pytest.raises(RuntimeError, match="already initialised"):
        AppAuth().init_app(app)


def test_outside_an_initialised_app_the_error_says_what_to_do(azure_emulator_env):
    app = Flask("bare")
    with app.app_context(), pytest.raises(RuntimeError, match=r"appauth.init_app\(app\)"):
        AppAuth().get_access_token("https://vault.azure.net")


def test_the_services_are_closed_when_the_app_goes_away(make_app, monkeypatch):
    """Nothing is opened per request; the vault clients live as long as the app (or the process)."""
    closed: list[AppAuthServices] = []
    monkeypatch.setattr(AppAuthServices, "close", lambda self: closed.append(self))
    app = make_app()
    services = app.extensions["appauth"]
    with app.app_context():
        pass  # an app context ending closes nothing
    assert closed == []
    del app
    gc.collect()
    assert closed == [services]


def test_a_failed_init_app_closes_what_it_opened(make_app, monkeypatch, azure_emulator):
    closed: list[AppAuthServices] = []
    monkeypatch.setattr(AppAuthServices, "close", lambda self: closed.append(self))
    with pytest.raises(ReferenceResolutionError):
        make_app(MISSING=f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/flask-nope)")
    assert len(closed) == 1
