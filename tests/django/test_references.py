"""Settings-time secrets: references anywhere in the settings, resolved once, concurrently, or a loud stop."""

from __future__ import annotations

import time

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from appauth_django import resolution
from appauth_django.settings import keyvault_secret, keyvault_secrets

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


def ref(emulator, name: str) -> str:
    return f"@Microsoft.KeyVault(SecretUri={emulator.vault.url}secrets/{name}/)"


def test_references_anywhere_are_resolved(appauth_settings, azure_emulator, vault_secrets):
    databases = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "PASSWORD": ref(azure_emulator, "db-password"),
        }
    }
    appauth_settings.SECRET_KEY = ref(azure_emulator, "django-secret-key")
    appauth_settings.DATABASES = databases
    appauth_settings.API_CLIENTS = [("billing", {"keys": ["plain", ref(azure_emulator, "api-key")]})]
    appauth_settings.VAULT_NAME_FORM = f"  @microsoft.keyvault(SecretUri={azure_emulator.vault.url}secrets/api-key)"

    changed = resolution.resolve_settings_references()

    assert sorted(changed) == sorted(
        [
            "SECRET_KEY",
            "DATABASES['default']['PASSWORD']",
            "API_CLIENTS[0][1]['keys'][1]",
            "VAULT_NAME_FORM",
        ]
    )
    assert vault_secrets["django-secret-key"] == django_settings.SECRET_KEY
    assert django_settings.DATABASES["default"]["PASSWORD"] == vault_secrets["db-password"]
    assert django_settings.DATABASES["default"]["NAME"] == ":memory:"
    assert [("billing", {"keys": ["plain", vault_secrets["api-key"]]})] == django_settings.API_CLIENTS
    assert isinstance(django_settings.API_CLIENTS[0], tuple)
    assert databases["default"]["PASSWORD"].startswith("@Microsoft.KeyVault(")  # copied, never mutated
    # One read per secret, however many settings name it.
    assert azure_emulator.counters["keyvault.local.get_secret"] == 3
    assert resolution.configured_references()["SECRET_KEY"] == ref(azure_emulator, "django-secret-key")


def test_references_are_read_concurrently(appauth_settings, azure_emulator):
    names = [f"parallel-{index}" for index in range(8)]
    for name in names:
        azure_emulator.vault.set_secret(name, f"value of {name}")
    appauth_settings.MANY = {name: ref(azure_emulator, name) for name in names}
    resolution.resolve_settings_references()  # warm the token, so only vault reads are timed below
    resolution.forget()
    appauth_settings.MANY = {name: ref(azure_emulator, name) for name in names}
    from appauth_django import conf

    conf.reload()
    azure_emulator.faults.inject("keyvault.local.get_secret", delay=0.5, times=len(names))
    started = time.monotonic()
    resolution.resolve_settings_references()
    elapsed = time.monotonic() - started
    assert {name: f"value of {name}" for name in names} == django_settings.MANY
    assert elapsed < 0.5 * len(names) / 2, f"{len(names)} reads of 0.5 s took {elapsed:.1f} s: not concurrent"


def test_failure_stops_startup_naming_the_setting(appauth_settings, azure_emulator, vault_secrets):
    appauth_settings.SECRET_KEY = ref(azure_emulator, "django-secret-key")
    appauth_settings.DATABASES = {"default": {"PASSWORD": ref(azure_emulator, "no-such-secret")}}
    with pytest.raises(ImproperlyConfigured) as caught:
        resolution.resolve_settings_references()
    message = str(caught.value)
    assert "DATABASES['default']['PASSWORD']" in message
    assert "SecretNotFound" in message or "not found" in message.lower()
    assert vault_secrets["django-secret-key"] not in message
    # No chained exception carries frames (with resolved values in their locals) along.
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    # Nothing was written: the process is meant to stop here.
    assert ref(azure_emulator, "django-secret-key") == django_settings.SECRET_KEY


def test_ready_is_the_startup_hook(appauth_settings, azure_emulator, vault_secrets):
    appauth_settings.SECRET_KEY = ref(azure_emulator, "django-secret-key")
    apps.get_app_config("appauth_django").ready()
    assert vault_secrets["django-secret-key"] == django_settings.SECRET_KEY


def test_resolution_can_be_turned_off(appauth_settings, azure_emulator, vault_secrets):
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "RESOLVE_REFERENCES": False}
    appauth_settings.SECRET_KEY = ref(azure_emulator, "django-secret-key")
    apps.get_app_config("appauth_django").ready()
    assert ref(azure_emulator, "django-secret-key") == django_settings.SECRET_KEY
    assert azure_emulator.counters["keyvault"] == 0
    warnings = [m for m in run_checks(tags=["appauth"]) if m.id == "appauth.W002"]
    assert len(warnings) == 1 and "SECRET_KEY" in warnings[0].msg


def test_no_references_no_io(appauth_settings, azure_emulator):
    assert resolution.resolve_settings_references() == []
    assert azure_emulator.counters["mi"] == azure_emulator.counters["keyvault"] == 0


def test_a_broken_appauth_with_references_stops_startup(settings, azure_emulator):
    settings.APPAUTH = {"KEY_VAULT_URL": azure_emulator.vault.url, "SECRET_CACHE_SECONDS": "soon"}
    settings.SECRET_KEY = ref(azure_emulator, "django-secret-key")
    with pytest.raises(ImproperlyConfigured, match=r"APPAUTH\['SECRET_CACHE_SECONDS'\]"):
        apps.get_app_config("appauth_django").ready()


def test_encryption_key_reference_is_left_to_the_core(appauth_settings, azure_emulator):
    key_ref = ref(azure_emulator, "cache-key")
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "CACHE": "default", "CACHE_ENCRYPTION_KEY": key_ref}
    resolution.resolve_settings_references()
    assert django_settings.APPAUTH["CACHE_ENCRYPTION_KEY"] == key_ref  # read (and re-read) by KeyVaultSecrets


# --- keyvault_secret() / keyvault_secrets() inside settings.py -----------------------------------------------


def test_keyvault_secret_by_name_and_by_reference(azure_emulator, azure_emulator_env, vault_secrets):
    appauth = {"KEY_VAULT_URL": azure_emulator.vault.url}
    assert keyvault_secret("db-password", appauth) == vault_secrets["db-password"]
    assert keyvault_secret(ref(azure_emulator, "api-key"), appauth) == vault_secrets["api-key"]
    version = azure_emulator.vault.versions("api-key")[-1].version  # the current one
    azure_emulator.vault.set_secret("api-key", "rotated")
    assert keyvault_secret("api-key", appauth, version=version) == vault_secrets["api-key"]


def test_keyvault_secrets_reads_all_at_once(azure_emulator, azure_emulator_env, vault_secrets):
    appauth = {"KEY_VAULT_URL": azure_emulator.vault.url}
    values = keyvault_secrets(["db-password", "api-key", ref(azure_emulator, "django-secret-key")], appauth)
    assert values == {
        "db-password": vault_secrets["db-password"],
        "api-key": vault_secrets["api-key"],
        ref(azure_emulator, "django-secret-key"): vault_secrets["django-secret-key"],
    }


def test_keyvault_secret_failure_is_improperly_configured(azure_emulator, azure_emulator_env, vault_secrets):
    appauth = {"KEY_VAULT_URL": azure_emulator.vault.url}
    with pytest.raises(ImproperlyConfigured, match="no-such-secret") as caught:
        keyvault_secret("no-such-secret", appauth)
    assert caught.value.__context__ is None
    with pytest.raises(ImproperlyConfigured, match=r"APPAUTH.*KEYVAULT"):
        keyvault_secret("db-password", {"KEYVAULT_URL": azure_emulator.vault.url})


def test_keyvault_secret_in_a_settings_module(azure_emulator, azure_emulator_env, vault_secrets, tmp_path, monkeypatch):
    """What settings.py does: import time, before Django's settings (or caches) exist."""
    (tmp_path / "kv_settings_module.py").write_text(
        "from appauth_django.settings import keyvault_secret\n"
        f"APPAUTH = {{'KEY_VAULT_URL': {azure_emulator.vault.url!r}, 'CACHE': 'default'}}\n"
        "SENTRY_DSN = keyvault_secret('api-key', APPAUTH)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import kv_settings_module

    assert vault_secrets["api-key"] == kv_settings_module.SENTRY_DSN
