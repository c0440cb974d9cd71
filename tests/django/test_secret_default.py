"""Issue 15, item 8: ``secret(name, default=...)``. A default stands in for a secret that does not exist, and
for nothing else: a refused identity, an unreachable vault or a project with no vault still fail loudly, so
a default can never hide a broken deployment."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from appauth_core import KeyVaultUnavailableError, SecretAccessDeniedError
from appauth_core.web import ConfigError
from appauth_django import get_appauth
from appauth_django.conf import get_services
from appauth_django.middleware import AppAuthMiddleware

FORBIDDEN = json.dumps({"error": {"code": "Forbidden", "message": "Caller is not authorized"}}).encode()


def in_a_view(read):
    """``read(request.appauth)``, called in a view behind the middleware; its result."""
    seen = {}

    def view(request):
        seen["value"] = read(get_appauth(request))
        return HttpResponse("ok")

    AppAuthMiddleware(view)(RequestFactory().get("/"))
    return seen["value"]


def test_a_feature_flag_that_is_not_in_the_vault_yet_gets_its_default(appauth_settings, vault_secrets):
    assert in_a_view(lambda appauth: appauth.secret("new-feature-flag", default="off")) == "off"
    assert in_a_view(lambda appauth: appauth.secret("new-feature-flag", default=None)) is None
    assert in_a_view(lambda appauth: appauth.secret("db-password", default="off")) == vault_secrets["db-password"]
    assert get_services().secret("new-feature-flag", "0" * 32, default="off") == "off"  # no such version


@pytest.mark.asyncio
async def test_the_async_twin_takes_a_default_too(appauth_settings, vault_secrets):
    services = get_services()
    assert await services.secret_async("new-feature-flag", default="off") == "off"


def test_access_denied_is_never_hidden_by_a_default(appauth_settings, azure_emulator, vault_secrets):
    azure_emulator.faults.inject("keyvault.local.get_secret", status=403, body=FORBIDDEN, times=10)
    with pytest.raises(SecretAccessDeniedError):
        in_a_view(lambda appauth: appauth.secret("db-password", default="off"))


def test_an_unreachable_vault_is_never_hidden_by_a_default(appauth_settings, azure_emulator, vault_secrets):
    azure_emulator.faults.inject("keyvault.local.get_secret", status=503, times=10)
    with pytest.raises(KeyVaultUnavailableError):
        in_a_view(lambda appauth: appauth.secret("db-password", default="off"))


def test_no_vault_configured_is_never_hidden_by_a_default(settings, azure_emulator_env):
    settings.APPAUTH = {}
    with pytest.raises(ConfigError, match=r"APPAUTH\['KEY_VAULT_URL'\]"):
        in_a_view(lambda appauth: appauth.secret("new-feature-flag", default="off"))
