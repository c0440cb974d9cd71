"""Security, one class (issue 14, finding 7): a setting that contains a secret appauth read is hidden from Django's
error reports, wherever in the settings it is and whatever it is called.

Django's own filter hides settings by name (``PASSWORD``, ``KEY``, ...). A ``settings.py`` that builds a URL
from a secret (``DATABASE_URL``, a cache ``LOCATION``, a webhook in a list, a broker in a set) puts the secret
under a name that looks harmless. Secrets are read here the way ``settings.py`` reads them
(``appauth_django.settings.keyvault_secrets``), built into settings of every shape, and then a view fails for
real: the technical 500 page (``DEBUG = True``, the test client with ``raise_request_exception=False``) and the
error e-mail (``DEBUG = False``, Django's own ``mail_admins`` handler, text and HTML parts) must show none of
them, while the settings' names and their harmless neighbours are still shown.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

import tests.django.conftest  # noqa: F401 - configures Django (as collecting tests/django does)
from appauth_core.testing import AzureEmulator
from tests.canaries import Canaries

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")

NAMES = ("db-password", "cache-password", "hook-token", "broker-password", "replica-password", "dsn-part")
HARMLESS = "https://status.example.com/"  # a neighbour of a secret in the same list: must stay visible


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view failed")


urlpatterns = [path("boom", boom)]


@pytest.fixture
def secret_settings(
    settings: Any, canaries: Canaries, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> Any:
    """Settings built from secrets, as a ``settings.py`` would build them, under names Django does not hide."""
    from appauth_django import conf, resolution, secret_values
    from appauth_django.settings import keyvault_secrets

    vault = azure_emulator.vault.url
    for name in NAMES:
        azure_emulator.vault.set_secret(name, canaries.new(name))
    settings.APPAUTH = {"KEY_VAULT_URL": vault}
    read = keyvault_secrets(NAMES, settings.APPAUTH)
    settings.ROOT_URLCONF = __name__
    settings.DATABASE_URL = f"postgres://app:{read['db-password']}@db.internal:5432/app"
    settings.CACHES = {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"rediss://:{read['cache-password']}@cache.internal:6380/0",
        },
    }
    settings.WEBHOOKS = [HARMLESS, f"https://bot:{read['hook-token']}@hooks.example.com/notify"]
    settings.BROKERS = {f"amqp://app:{read['broker-password']}@mq.internal:5672//"}  # a set
    settings.DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "replica": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "OPTIONS": {
                "init_command": ("PRAGMA foreign_keys=ON", f"ATTACH 'x' AS r KEY '{read['replica-password']}'")
            },
        },
    }
    settings.MONITORING = {"endpoints": [{"url": f"https://in.example.com/?k={read['dsn-part']}&env=prod"}]}
    yield settings
    conf.reload()
    resolution.forget()
    secret_values.forget_all()


def debug_page(settings: Any) -> list[str]:
    settings.DEBUG = True
    response = Client(raise_request_exception=False).get("/boom", HTTP_ACCEPT="text/html")
    assert response.status_code == 500
    page = response.content.decode()
    assert "the view failed" in page and "Settings" in page  # Django's technical 500 page
    return [page]


def error_email(settings: Any, mailoutbox: list[Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    handler = next(h for h in logging.getLogger("django").handlers if h.__class__.__name__ == "AdminEmailHandler")
    monkeypatch.setattr(handler, "include_html", True)  # the HTML part is the technical 500 page
    response = Client(raise_request_exception=False).get("/boom")
    assert response.status_code == 500
    assert len(mailoutbox) == 1, "Django's mail_admins handler sent no e-mail"
    message = mailoutbox[0]
    parts = [message.subject, message.body, *(content for content, _ in message.alternatives)]
    assert "the view failed" in message.body and len(parts) == 3
    return parts


@pytest.mark.parametrize("channel", ["debug page", "error e-mail"])
def test_settings_containing_a_secret_are_hidden(
    channel: str, secret_settings: Any, canaries: Canaries, mailoutbox: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    if channel == "debug page":
        parts = debug_page(secret_settings)
    else:
        parts = error_email(secret_settings, mailoutbox, monkeypatch)
    report = parts[0] if channel == "debug page" else parts[1]  # the page; the e-mail's text part
    for part in parts:
        canaries.check(part, f"the {channel}")
    # Not vacuous: each setting is listed, and what holds no secret is still shown.
    for name in ("DATABASE_URL", "CACHES", "WEBHOOKS", "BROKERS", "DATABASES", "MONITORING"):
        assert name in report
    assert HARMLESS in report
    assert "django.core.cache.backends.redis.RedisCache" in report
    assert "PRAGMA foreign_keys=ON" in report
