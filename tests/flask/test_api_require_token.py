"""``AppAuth.require_token`` (issue 17) on sync and async Flask views, with real tokens from the emulator:
``g.appauth.caller`` for a valid token; RFC 6750's 401 ``Bearer`` / 401 ``invalid_token`` / 403
``insufficient_scope`` with a small JSON body otherwise."""

from __future__ import annotations

import pytest
from flask import Flask, g

from appauth_core import AzureServiceTokenProvider
from appauth_flask import AppAuth
from tests.api_support import api_settings, describe, issued, register_orders_api


@pytest.fixture
def orders_api(azure_emulator):
    return register_orders_api(azure_emulator, "flask-orders")


def token_with(emulator, api, *roles: str) -> str:
    """The system-assigned managed identity's real token for ``api``, once it holds ``roles``."""
    for role in roles:
        emulator.assign_role(api, emulator.directory.system_identity, role)
    return AzureServiceTokenProvider().get_access_token(api.app_id_uri)


@pytest.fixture
def api(make_app, orders_api, azure_emulator) -> Flask:
    appauth = AppAuth()

    def routes(app: Flask) -> None:
        @app.get("/whoami")
        @appauth.require_token
        def whoami() -> dict[str, object]:
            return describe(g.appauth.caller)

        @app.get("/async/whoami")
        @appauth.require_token()
        async def whoami_async() -> dict[str, object]:
            return describe(g.appauth.caller)

        @app.get("/orders")
        @appauth.require_token(roles="Orders.Read")
        def orders() -> dict[str, object]:
            return describe(g.appauth.caller)

        @app.get("/async/orders")
        @appauth.require_token(roles=["Orders.Read"])
        async def orders_async() -> dict[str, object]:
            return describe(g.appauth.caller)

        @app.get("/unprotected")
        def unprotected() -> dict[str, object]:
            return describe(g.appauth.caller)

    return make_app(
        appauth,
        setup=routes,
        **{f"APPAUTH_API_{key}": value for key, value in api_settings(azure_emulator, orders_api.app_id_uri).items()},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/whoami", "/async/whoami"])
def test_a_valid_token_reaches_the_view_with_its_caller(api, path, orders_api, azure_emulator):
    token = token_with(azure_emulator, orders_api)
    response = api.test_client().get(path, headers=bearer(token))
    assert response.status_code == 200, response.data
    assert response.json["client_id"] == azure_emulator.directory.system_identity.client_id
    assert response.json["tenant_id"] == azure_emulator.tenant_id


@pytest.mark.parametrize("path", ["/whoami", "/async/whoami", "/orders", "/async/orders"])
def test_no_token_is_401_with_a_plain_bearer_challenge(api, path):
    response = api.test_client().get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.is_json and set(response.json) <= {"error", "error_description"}


@pytest.mark.parametrize("path", ["/whoami", "/async/whoami"])
def test_a_bad_token_is_401_invalid_token(api, path, orders_api, azure_emulator):
    for token in (
        issued(azure_emulator, "api://someone-else"),
        issued(azure_emulator, orders_api.app_id_uri, lifetime=-3600),
    ):
        response = api.test_client().get(path, headers=bearer(token))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        assert response.json["error"] == "invalid_token"


@pytest.mark.parametrize("path", ["/orders", "/async/orders"])
def test_a_missing_role_is_403_and_the_role_lets_in(api, path, orders_api, azure_emulator):
    client = api.test_client()
    refused = client.get(path, headers=bearer(token_with(azure_emulator, orders_api, "Orders.Write")))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert refused.json["error"] == "insufficient_scope"
    # The same identity once it also holds the role (the cached token is refreshed to get it).
    azure_emulator.assign_role(orders_api, azure_emulator.directory.system_identity, "Orders.Read")
    token = azure_emulator.issue_token(orders_api.app_id_uri, identity=azure_emulator.directory.system_identity)
    accepted = client.get(path, headers=bearer(token.access_token))
    assert accepted.status_code == 200
    assert accepted.json["roles"] == ["Orders.Read", "Orders.Write"]


def test_a_view_without_the_decorator_has_no_caller(api, orders_api, azure_emulator):
    token = token_with(azure_emulator, orders_api)
    assert api.test_client().get("/unprotected", headers=bearer(token)).json == {"caller": None}


def test_wrong_roles_fail_where_the_view_is_declared():
    with pytest.raises(TypeError, match=r"AppAuth\.require_token\(scopes=...\)"):
        AppAuth().require_token(scopes=[""])


def test_keys_that_cannot_be_had_are_503_not_401(make_app, orders_api, azure_emulator):
    from .support import free_port

    appauth = AppAuth()

    def routes(app: Flask) -> None:
        @app.get("/whoami")
        @appauth.require_token
        async def whoami() -> dict[str, object]:
            return describe(g.appauth.caller)

    settings = {**api_settings(azure_emulator, orders_api.app_id_uri), "AUTHORITY": f"https://127.0.0.1:{free_port()}/"}
    app = make_app(appauth, setup=routes, **{f"APPAUTH_API_{key}": value for key, value in settings.items()})
    response = app.test_client().get("/whoami", headers=bearer(issued(azure_emulator, orders_api.app_id_uri)))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
