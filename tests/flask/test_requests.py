"""Issue 6, item 3: ``g.appauth`` in sync and async views, and the extension object outside requests."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
from flask import g

from appauth_core import RequestAppAuth
from appauth_core.web import ConfigError
from appauth_flask import AppAuth

VAULT = "https://vault.azure.net"
STORAGE = "https://storage.azure.com"


def test_asgiref_is_installed_for_async_views():
    assert importlib.util.find_spec("asgiref") is not None, "Flask's async views need asgiref (Flask[async])"


def test_g_appauth_in_a_sync_view(make_app, azure_emulator, canary):
    value = canary("flask-view-secret")
    app = make_app()
    seen = {}

    @app.get("/")
    def index() -> str:
        seen["is_facade"] = isinstance(g.appauth, RequestAppAuth)
        token = g.appauth.get_access_token(STORAGE)
        seen["claims"] = azure_emulator.issuer.verify(token)
        seen["secret"] = g.appauth.secret("flask-view-secret")
        principal = g.appauth.principal
        return principal.app_id if principal else ""

    response = app.test_client().get("/")
    identity = azure_emulator.directory.system_identity
    assert response.status_code == 200
    assert response.text == identity.client_id
    assert seen["is_facade"]
    assert seen["claims"]["aud"] == STORAGE
    assert seen["secret"] == value


def test_g_appauth_is_bound_before_other_before_request_functions(make_app):
    app = make_app()
    seen = []
    app.before_request(lambda: seen.append(isinstance(g.appauth, RequestAppAuth)))
    app.add_url_rule("/", "index", lambda: "ok")
    assert app.test_client().get("/").status_code == 200
    assert seen == [True]


def test_nothing_is_fetched_until_a_view_asks(make_app, azure_emulator):
    app = make_app()
    app.add_url_rule("/", "index", lambda: "no appauth here")
    assert app.test_client().get("/").status_code == 200
    assert azure_emulator.counters.snapshot() == {}


def test_g_appauth_in_async_views_across_requests(make_app, azure_emulator, canary):
    value = canary("flask-async-secret")
    app = make_app()

    @app.get("/")
    async def index() -> dict[str, str]:
        token, secret = await asyncio.gather(
            g.appauth.get_access_token_async(VAULT), g.appauth.secret_async("flask-async-secret")
        )
        return {"aud": azure_emulator.issuer.verify(token)["aud"], "matches": str(secret == value)}

    client = app.test_client()
    # Flask runs each async view in a new event loop: the second request must not trip over the first's loop.
    for _ in range(3):
        response = client.get("/")
        assert response.status_code == 200, response.text
        assert response.json == {"aud": VAULT, "matches": "True"}
    assert value not in response.text


def test_the_extension_works_in_an_app_context_outside_requests(make_app, azure_emulator, canary):
    value = canary("flask-job-secret")
    appauth = AppAuth()
    app = make_app(appauth)
    with app.app_context():
        assert azure_emulator.issuer.verify(appauth.get_access_token(STORAGE))["aud"] == STORAGE
        assert appauth.secret("flask-job-secret") == value
        assert appauth.principal is not None
        assert appauth.principal.app_id == azure_emulator.directory.system_identity.client_id
        assert appauth.services is app.extensions["appauth"]

        async def job() -> tuple[str, str]:
            return await appauth.get_access_token_async(VAULT), await appauth.secret_async("flask-job-secret")

        token, secret = asyncio.run(job())
        assert azure_emulator.issuer.verify(token)["aud"] == VAULT
        assert secret == value


def test_the_extension_needs_an_app_context(make_app):
    appauth = AppAuth()
    make_app(appauth)
    with pytest.raises(RuntimeError, match="application context"):
        appauth.get_access_token(STORAGE)


def test_a_view_without_a_vault_gets_an_error_naming_the_key(make_app):
    app = make_app(APPAUTH_KEY_VAULT_URL=None)
    with app.test_request_context("/"):
        app.preprocess_request()
        with pytest.raises(ConfigError, match="APPAUTH_KEY_VAULT_URL"):
            g.appauth.secret("anything")
