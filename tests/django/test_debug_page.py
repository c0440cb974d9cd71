"""Nothing secret on Django's technical 500 page or in error e-mails: settings, request.META, frame locals.

Canary values are planted everywhere a secret can be, then the real ``technical_500_response`` (and the
text report used by error e-mails) is rendered and searched for them.
"""

from __future__ import annotations

import functools
import os
import sys

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter, get_default_exception_reporter_filter, technical_500_response
from django.views.decorators.debug import sensitive_variables

from appauth_core import clear_token_cache
from appauth_django import resolution
from appauth_django.debug import AppAuthExceptionReporterFilter
from appauth_django.settings import keyvault_secret

from .conftest import service_principal

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


@pytest.fixture
def planted(appauth_settings, azure_emulator, vault_secrets):
    """Settings and a request holding secrets under names Django's own filter would not hide."""
    vault = azure_emulator.vault.url
    # Random, so no canary appears in this file's source (the page shows source lines around each frame).
    app_key, identity_header = os.urandom(12).hex(), os.urandom(12).hex()
    appauth_settings.DEBUG = True
    appauth_settings.SENTRY_DSN = f"@Microsoft.KeyVault(SecretUri={vault}secrets/api-key/)"
    appauth_settings.DATABASES = {"default": {"HOST": f"@Microsoft.KeyVault(SecretUri={vault}secrets/db-password/)"}}
    resolution.resolve_settings_references()
    appauth_settings.UPSTREAM_URL = keyvault_secret("django-secret-key", {"KEY_VAULT_URL": vault})
    request = RequestFactory().get(
        "/boom",
        HTTP_X_FORWARDED_FOR="10.0.0.1",
        IDENTITY_HEADER=identity_header,  # what runserver copies from os.environ
        AzureServicesAuthConnectionString=f"RunAs=App;AppId=x;TenantId=y;AppKey={app_key}",
    )
    canaries = [*vault_secrets.values(), app_key, identity_header]
    canaries.remove("Hello from Key Vault & <friends>")
    return request, canaries


def render_error(request, raise_it) -> tuple[str, str]:
    try:
        raise_it()
    except Exception:
        exc_info = sys.exc_info()
    html = technical_500_response(request, *exc_info).content.decode()
    text = ExceptionReporter(request, *exc_info).get_traceback_text()
    return html, text


def assert_clean(pages: tuple[str, str], canaries: list[str]) -> None:
    for page in pages:
        for canary in canaries:
            assert canary not in page
        assert "********************" in page


def test_the_filter_is_installed_by_default():
    assert isinstance(get_default_exception_reporter_filter(), AppAuthExceptionReporterFilter)


def test_settings_and_request_meta(planted, settings, azure_emulator):
    request, canaries = planted
    app_key = canaries[-2]
    settings.APPAUTH = {**settings.APPAUTH, "CONNECTION_STRING": f"RunAs=App;AppId=a;TenantId=t;AppKey={app_key}"}

    def view():
        raise RuntimeError("boom")

    pages = render_error(request, view)
    assert_clean(pages, canaries)
    assert "SENTRY_DSN" in pages[0] and "UPSTREAM_URL" in pages[0]  # shown, but not their values


def test_sensitive_frames_are_hidden_even_in_debug(planted, azure_emulator):
    request, canaries = planted
    value = os.urandom(12).hex()  # read at request time only: not one of the settings' values
    azure_emulator.vault.set_secret("view-secret", value)

    @sensitive_variables()
    def view_holding_a_secret():
        password = _secret("view-secret")
        raise ValueError(f"could not connect (password length {len(password)})")

    pages = render_error(request, view_holding_a_secret)
    assert_clean(pages, [*canaries, value])


@pytest.mark.parametrize("fault", [{"garbage": True}, {"truncate": True}, {"status": 400}])
def test_frames_inside_appauth_are_hidden(planted, settings, azure_emulator, fault):
    """While the core signs in with the AppKey, msal and requests hold it (a form body) in their locals."""
    request, canaries = planted
    app = azure_emulator.app
    settings.APPAUTH = {
        **settings.APPAUTH,
        "CONNECTION_STRING": service_principal(azure_emulator),
        "AZURE_AD_INSTANCE": azure_emulator.authority,
    }
    azure_emulator.faults.inject("entra.token", times=5, **fault)
    clear_token_cache()  # a token for this app and resource cached by an earlier test would leave nothing to fail

    def view():
        _token("https://storage.azure.com")

    pages = render_error(request, view)
    assert "Tried to get token using Service principal" in pages[1]
    assert_clean(pages, [*canaries, app.secrets[0]])


def test_a_failing_view_through_the_test_client(client, planted):
    _, canaries = planted
    client.raise_request_exception = False
    response = client.get("/boom", HTTP_ACCEPT="text/html")
    assert response.status_code == 500
    page = response.content.decode()
    assert "RuntimeError" in page
    for canary in canaries:
        assert canary not in page


def test_django_default_filter_would_leak(planted, settings):
    """The reason for the filter: Django's own shows a secret resolved into SENTRY_DSN."""
    request, canaries = planted
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    get_default_exception_reporter_filter.cache_clear()
    try:
        html, _ = render_error(request, lambda: 1 / 0)
    finally:
        get_default_exception_reporter_filter.cache_clear()
    assert any(canary in html for canary in canaries)


def _secret(name: str) -> str:
    from appauth_django.conf import get_services

    return get_services().secret(name)


def _token(resource: str) -> str:
    from appauth_django.conf import get_services

    return get_services().get_access_token(resource)


def test_frames_under_a_core_frame_are_hidden(planted):
    """The mechanism, shown directly: a frame of an ``appauth_core`` module holding a credential in a local,
    and a library frame it calls (as msal or requests would be), both show no locals."""
    request, canaries = planted
    credential = Vaulted(os.urandom(12).hex())
    namespace: dict = {"__name__": "appauth_core.tokens.sources.example"}
    exec(  # noqa: S102 - a function that really belongs to an appauth_core module, as the filter sees it
        "def sign_in(send, secret):\n    app_key = secret.value\n    return send({'client_secret': app_key})\n",
        namespace,
    )

    def library_send(form):
        body = "&".join(f"{k}={v}" for k, v in form.items())
        raise ConnectionError(f"connection reset after {len(body)} bytes")

    pages = render_error(request, functools.partial(namespace["sign_in"], library_send, credential))
    assert "connection reset" in pages[1]
    assert_clean(pages, [*canaries, credential.value])


class Vaulted:
    """Holds a credential without showing it in its repr (as the core's objects do)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<Vaulted>"
