"""request.appauth: lazy, sync and async, rebuilt when settings change."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from django.utils.functional import empty

from appauth_core import RequestAppAuth
from appauth_core.web import ConfigError
from appauth_django.middleware import AppAuthMiddleware

MIDDLEWARE_NAME = "appauth_django.middleware.AppAuthMiddleware"


def test_sync_middleware_sets_a_lazy_attribute(appauth_settings, azure_emulator):
    seen = {}

    def view(request):
        seen["wrapped_before_use"] = request.appauth._wrapped
        seen["principal"] = request.appauth.principal  # first touch builds (no I/O)
        seen["wrapped"] = request.appauth._wrapped
        return HttpResponse("ok")

    middleware = AppAuthMiddleware(view)
    assert not iscoroutinefunction(middleware)
    middleware(RequestFactory().get("/"))
    assert seen["wrapped_before_use"] is empty
    assert isinstance(seen["wrapped"], RequestAppAuth)
    assert seen["principal"] is None  # no token yet
    assert azure_emulator.counters["mi"] == 0
    assert azure_emulator.counters["keyvault"] == 0


@pytest.mark.asyncio
async def test_async_middleware_is_a_coroutine_function(appauth_settings):
    async def view(request):
        return HttpResponse(request.appauth.__class__.__name__)  # proxied by SimpleLazyObject

    middleware = AppAuthMiddleware(view)
    assert iscoroutinefunction(middleware)
    response = await middleware(RequestFactory().get("/"))
    assert response.content == b"RequestAppAuth"


def sync_only_middleware(get_response):
    """A middleware Django must adapt under ASGI: proves the log line this test looks for exists."""
    return lambda request: get_response(request)


@pytest.mark.parametrize("handler", [WSGIHandler, ASGIHandler])
def test_django_never_adapts_it(handler, caplog):
    # With DEBUG on, Django logs "... handler adapted for middleware X" for each middleware it must wrap
    # (a thread switch per request under ASGI for a sync-only one).
    chain = [f"{__name__}.sync_only_middleware", MIDDLEWARE_NAME]
    with override_settings(DEBUG=True, MIDDLEWARE=chain), caplog.at_level(logging.DEBUG, logger="django.request"):
        handler()
    adapted = [r.getMessage() for r in caplog.records if "adapted" in r.getMessage()]
    if handler is ASGIHandler:
        assert any("sync_only_middleware" in line for line in adapted)
    assert not [line for line in adapted if MIDDLEWARE_NAME in line]


def test_no_io_unless_used(client, appauth_settings, azure_emulator):
    assert client.get("/untouched").content == b"ok"
    assert azure_emulator.counters["mi"] == 0
    assert azure_emulator.counters["keyvault"] == 0


def test_sync_views(client, appauth_settings, azure_emulator, vault_secrets):
    identity = azure_emulator.directory.system_identity
    body = client.get("/token/sync").json()
    assert (body["appid"], body["aud"]) == (identity.client_id, "https://vault.azure.net")
    assert client.get("/secret/sync", {"name": "db-password"}).json()["value"] == vault_secrets["db-password"]
    principal = client.get("/principal").json()
    assert principal == {"type": "App", "app_id": identity.client_id, "tenant_id": azure_emulator.tenant_id}


@pytest.mark.asyncio
async def test_async_views(async_client, appauth_settings, azure_emulator, vault_secrets):
    body = (await async_client.get("/token/async", {"resource": "https://storage.azure.com"})).json()
    assert body["aud"] == "https://storage.azure.com"
    assert body["appid"] == azure_emulator.directory.system_identity.client_id
    secret = (await async_client.get("/secret/async", {"name": "api-key"})).json()
    assert secret["value"] == vault_secrets["api-key"]


def test_request_appauth_follows_settings(appauth_settings, vault_secrets):
    seen = []

    def view(request):
        try:
            seen.append(request.appauth.secret("db-password"))
        except ConfigError as error:
            seen.append(error.key)
        return HttpResponse("ok")

    middleware = AppAuthMiddleware(view)
    middleware(RequestFactory().get("/"))
    with override_settings(APPAUTH={}):  # no vault
        middleware(RequestFactory().get("/"))
    middleware(RequestFactory().get("/"))  # rebuilt after the override ended
    value = vault_secrets["db-password"]
    assert seen == [value, "APPAUTH['KEY_VAULT_URL']", value]


def test_request_appauth_with_a_broken_setting_raises_on_use(client, settings):
    settings.APPAUTH = {"TEMPLATE_SECRET": ["typo"]}
    from django.core.exceptions import ImproperlyConfigured

    def view(request):
        with pytest.raises(ImproperlyConfigured, match="Did you mean APPAUTH\\['TEMPLATE_SECRETS'\\]"):
            request.appauth.secret("x")
        return HttpResponse("ok")

    AppAuthMiddleware(view)(RequestFactory().get("/"))
