"""Django for the tests in this folder: settings, fresh appauth state around each test, and the
emulator wired into ``APPAUTH`` through the ``settings`` fixture (so every test also exercises
``setting_changed``).

pytest-django reads ``DJANGO_SETTINGS_MODULE`` before any conftest is imported, so this one calls
``django.setup()`` itself. Only collecting this folder configures Django: ``pytest tests/core`` runs
without it, and a whole run keeps no trace of it in the process environment (see ``_set_up_django``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import django
import pytest

SETTINGS_MODULE = "tests.django.settings"


def _set_up_django() -> None:
    """``django.setup()`` with our settings, leaving ``os.environ`` as it was: ``DJANGO_SETTINGS_MODULE``
    would leak into the user test suites ``tests/standins`` runs with pytester, and Django's ``TIME_ZONE``
    (it sets ``TZ`` and calls ``tzset()``) would change local time for the core tests that parse it."""
    saved = {name: os.environ.get(name) for name in ("DJANGO_SETTINGS_MODULE", "TZ")}
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    try:
        django.setup()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        time.tzset()


_set_up_django()

from appauth_core.testing.emulator import AzureEmulator  # noqa: E402
from appauth_django import conf, resolution, secret_values, startup  # noqa: E402

CANARY_PREFIX = "canary-"


@pytest.fixture(autouse=True)
def _fresh_appauth() -> Iterator[None]:
    """Every test builds its own services (the environment may have changed) and forgets what earlier tests
    resolved."""
    conf.reload()
    yield
    conf.reload()
    resolution.forget()
    startup.forget()
    secret_values.forget_all()


@pytest.fixture
def vault_secrets(azure_emulator: AzureEmulator) -> dict[str, str]:
    """Secrets in the emulator's vault; each value is a unique canary, so a leak is easy to find."""
    values = {
        "public-banner": "Hello from Key Vault & <friends>",
        "db-password": CANARY_PREFIX + os.urandom(8).hex(),
        "django-secret-key": CANARY_PREFIX + os.urandom(16).hex(),
        "api-key": CANARY_PREFIX + os.urandom(8).hex(),
    }
    for name, value in values.items():
        azure_emulator.vault.set_secret(name, value)
    return values


@pytest.fixture
def appauth_settings(settings: Any, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> Any:
    """``APPAUTH`` pointing at the emulator's vault; the process uses its App Service managed identity."""
    settings.APPAUTH = {"KEY_VAULT_URL": azure_emulator.vault.url, "TEMPLATE_SECRETS": ["public-banner"]}
    return settings


def service_principal(emulator: AzureEmulator, app_key: str | None = None) -> str:
    """A ``RunAs=App`` connection string for the emulator's service principal (its real key by default)."""
    app = emulator.app
    return f"RunAs=App;AppId={app.app_id};TenantId={emulator.tenant_id};AppKey={app_key or app.secrets[0]}"
