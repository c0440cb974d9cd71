"""Security, frame locals: no exception appauth raises carries a secret in a local of any frame of its traceback
chain (issue 14, finding 4).

Error trackers (Sentry, Rollbar), ``traceback`` with ``capture_locals``, rich tracebacks and Werkzeug's debugger
show every local of every frame. Each test plants canaries, drives appauth into the failure a user would meet,
and scans the error with ``Canaries.check_error``, whose frame-locals scan (``tests/canaries.py``) walks every
frame of the traceback and of every chained exception (suppressed or not), the test's own frames excepted.
The same scan runs over every case of the fault matrix and every leak-canary test.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

import tests.django.conftest  # noqa: F401 - configures Django (as collecting tests/django does)
from appauth_core import AppAuthError, AzureServiceTokenProvider, ConnectionStringError, KeyVaultSecrets
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache
from appauth_core.web import ConfigError, ReferenceResolutionError
from tests.canaries import Canaries, scan_frame_locals


def _name() -> str:
    return f"frame-{uuid.uuid4().hex[:12]}"


def _reference(emulator: AzureEmulator, name: str) -> str:
    return f"@Microsoft.KeyVault(SecretUri={emulator.vault.url}secrets/{name})"


@pytest.fixture
def stored(canaries: Canaries, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> dict[str, str]:
    """Three secrets in the emulator's vault, each value a canary: {name: value}."""
    values = {_name(): canaries.new("vault-value") for _ in range(3)}
    for name, value in values.items():
        azure_emulator.vault.set_secret(name, value)
    return values


def _secrets(emulator: AzureEmulator) -> KeyVaultSecrets:
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=emulator.app_service_env())
    return KeyVaultSecrets(emulator.vault.url, provider, client_options={"retry_total": 0})


# --- the scan itself ---------------------------------------------------------------------------------------


def test_the_scan_finds_a_secret_in_a_library_frame_behind_a_suppressed_context(canaries: Canaries) -> None:
    """``json`` (a frame outside tests/) holds the text it failed on; ``from None`` only hides the chain."""
    secret = canaries.new("in-json")
    try:
        try:
            json.loads('{"password": "' + secret)
        except ValueError:
            raise AppAuthError("the document is not JSON") from None
    except AppAuthError as error:
        caught = error
    scan = scan_frame_locals(caught, canaries.registry, tally=False)  # a planted hit: not the run's figure
    assert scan.exceptions == 2
    assert [hit.local for hit in scan.hits if "json" in hit.frame and hit.labels == ("in-json",)]


def test_the_scan_skips_the_tests_own_frames(canaries: Canaries) -> None:
    secret = canaries.new("held-by-the-test")
    error = _raise_holding(secret)
    scan = scan_frame_locals(error, canaries.registry, tally=False)
    assert scan.frames == 0 and not scan.hits  # the only frame is this file's


def _raise_holding(secret: str) -> AppAuthError:
    try:
        raise AppAuthError(f"{len(secret)} characters")
    except AppAuthError as error:
        return error


# --- Flask: init_app with one reference that cannot be read among good ones --------------------------------


def test_flask_init_app_with_one_missing_reference(
    canaries: Canaries, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], stored: dict[str, str]
) -> None:
    from flask import Flask

    from appauth_flask import AppAuth

    app = Flask(f"frames_{uuid.uuid4().hex[:8]}")
    good = {f"SETTING_{index}": _reference(azure_emulator, name) for index, name in enumerate(stored)}
    app.config.update(
        APPAUTH_KEY_VAULT_URL=azure_emulator.vault.url,
        DATABASES={"default": {"PASSWORD": _reference(azure_emulator, next(iter(stored)))}},
        **good,
        MISSING=_reference(azure_emulator, _name()),
    )
    with pytest.raises(ReferenceResolutionError) as caught:
        AppAuth(app)
    assert caught.value.setting == "MISSING" and "SecretNotFoundError" in str(caught.value)
    canaries.check_error(caught.value)


def test_flask_config_error_next_to_an_app_key(canaries: Canaries, azure_emulator: AzureEmulator) -> None:
    """A typo in another setting: the config as read (its AppKey) is in the frames that raise."""
    from flask import Flask

    from appauth_flask import AppAuth

    app = Flask(f"frames_{uuid.uuid4().hex[:8]}")
    app.config.update(
        APPAUTH_CONNECTION_STRING=_app_key_string(azure_emulator, canaries.new("app-key")),
        APPAUTH_SECRET_CACHE_SECONDS="five minutes",
    )
    with pytest.raises(ConfigError) as caught:
        AppAuth(app)
    assert "APPAUTH_SECRET_CACHE_SECONDS" in str(caught.value)
    canaries.check_error(caught.value)


# --- KeyVaultSecrets.get_many with one missing name ---------------------------------------------------------


@pytest.mark.parametrize("cached", [True, False], ids=["others-cached", "read-together"])
def test_get_many_with_one_missing_name(
    canaries: Canaries, azure_emulator: AzureEmulator, stored: dict[str, str], cached: bool
) -> None:
    secrets = _secrets(azure_emulator)
    if cached:
        assert secrets.get_many(stored) == stored  # the others come from the cache, the missing one is read alone
    missing = _name()
    with pytest.raises(AppAuthError) as caught:
        secrets.get_many([*stored, missing])
    assert missing in str(caught.value)
    canaries.check_error(caught.value)
    with pytest.raises(AppAuthError) as resolved:
        secrets.resolve_all({name: _reference(azure_emulator, name) for name in [*stored, missing]})
    canaries.check_error(resolved.value)


def test_get_many_async_with_one_missing_name(
    canaries: Canaries, azure_emulator: AzureEmulator, stored: dict[str, str]
) -> None:
    import asyncio

    secrets = _secrets(azure_emulator)
    assert secrets.get_many(stored) == stored
    with pytest.raises(AppAuthError) as caught:
        asyncio.run(secrets.get_many_async([*stored, _name()]))
    canaries.check_error(caught.value)


# --- a connection string with a typo next to its AppKey -----------------------------------------------------


def _app_key_string(emulator: AzureEmulator, app_key: str) -> str:
    return f"RunAs=App;AppId={emulator.app.app_id};TenantId={emulator.tenant_id};AppKey={app_key}"


TYPOS = [
    "RunAs=App;AppId=a;TenantId=t;AppKey={key};TenantID=t",  # a repeated key (keys ignore case)
    "RunAs=App;AppId=a;TenantId=t;AppKey={key};Tennant=t",  # an unknown key
    "RunAs=App;AppId=a;TenantId=t;AppKey={key};AzureAdInstance=http://login.example",  # not https
    "RunAs=App;AppId=a;TenantId=t;AppKey={key};MsiRetryTimeout=5",  # a key the method does not use
    "RunAs=Ap;AppId=a;TenantId=t;AppKey={key}",  # a misspelt RunAs
    "RunAs=App;AppId=a;AppKey={key}",  # TenantId missing
    "RunAs=App;AppId=a;TenantId=t;AppKey='{key}",  # an unterminated quote
]


@pytest.mark.parametrize("template", TYPOS)
def test_a_connection_string_typo_next_to_an_app_key(
    canaries: Canaries, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    text = template.format(key=canaries.new("app-key"))
    with pytest.raises(ConnectionStringError) as given:
        AzureServiceTokenProvider(text)
    canaries.check_error(given.value)
    monkeypatch.setenv("AzureServicesAuthConnectionString", text)  # the environment: a local too (os.environ)
    with pytest.raises(ConnectionStringError) as from_environment:
        AzureServiceTokenProvider()
    canaries.check_error(from_environment.value)


def test_a_wrong_app_key_reading_a_secret(
    canaries: Canaries, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    """msal's frames below the client-secret source hold the AppKey (the form it posts, its own arguments)."""
    provider = AzureServiceTokenProvider(
        _app_key_string(azure_emulator, canaries.new("app-key")), azure_emulator.authority, cache=TokenCache()
    )
    with pytest.raises(AppAuthError) as caught, KeyVaultSecrets(azure_emulator.vault.url, provider) as secrets:
        secrets.get(_name())
    assert "AADSTS7000215" in str(caught.value)
    canaries.check_error(caught.value)


# --- Django: a reference that cannot be read at settings time -----------------------------------------------


def test_django_appauth_time_reference_failure(
    canaries: Canaries, django_appauth: Any, azure_emulator: AzureEmulator, stored: dict[str, str]
) -> None:
    """A setting built earlier from a secret (``keyvault_secret()`` in settings.py) is in the settings as read."""
    from appauth_django import resolution

    names = list(stored)
    django_appauth.DATABASE_URL = f"postgres://app:{canaries.new('database-password')}@db.example/app"
    django_appauth.SENTRY_DSN = _reference(azure_emulator, names[0])
    django_appauth.CACHES_PASSWORD = _reference(azure_emulator, names[1])
    django_appauth.PAYMENT_KEY = _reference(azure_emulator, _name())
    with pytest.raises(ImproperlyConfigured) as caught:
        resolution.resolve_settings_references()
    assert "PAYMENT_KEY" in str(caught.value)
    canaries.check_error(caught.value)


def test_django_config_error_next_to_an_app_key(
    canaries: Canaries, django_appauth: Any, azure_emulator: AzureEmulator
) -> None:
    from appauth_django import conf

    django_appauth.APPAUTH = {
        "CONNECTION_STRING": _app_key_string(azure_emulator, canaries.new("app-key")),
        "SECRET_CACHE_SECONDS": "five minutes",
    }
    with pytest.raises(ImproperlyConfigured) as caught:
        conf.get_services()
    canaries.check_error(caught.value)
