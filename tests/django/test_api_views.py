"""Protected Django views (issue 17) through Django's real test clients (WSGI and ASGI handlers), with real
tokens from the emulator: ``require_token`` on sync and async views, ``TokenRequiredMixin`` on sync and async
class-based views. What each refusal answers is RFC 6750's: 401 ``Bearer`` without a token, 401
``invalid_token`` for a bad one, 403 ``insufficient_scope`` for a missing role, each a small JSON body."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import AsyncClient, Client

from appauth_core import AzureServiceTokenProvider
from tests.api_support import api_settings, issued, register_orders_api

WHOAMI = ["/api/whoami", "/api/async/whoami"]
ORDERS = ["/api/orders", "/api/async/orders", "/api/cbv/orders", "/api/cbv/async/orders"]


@pytest.fixture
def orders_api(azure_emulator):
    return register_orders_api(azure_emulator, "django-orders")


@pytest.fixture
def django_api(settings, orders_api, azure_emulator, azure_emulator_env):
    settings.APPAUTH = {"API": api_settings(azure_emulator, orders_api.app_id_uri)}
    return settings


@pytest.fixture
def assign(azure_emulator, orders_api):
    """Give the system-assigned managed identity (the caller in these tests) app roles of the API."""

    def roles(*names: str) -> None:
        for name in names:
            azure_emulator.assign_role(orders_api, azure_emulator.directory.system_identity, name)

    return roles


def token_for(orders_api) -> str:
    """What the app's managed identity really gets from the emulator's App Service endpoint for the API."""
    return AzureServiceTokenProvider().get_access_token(orders_api.app_id_uri)


@pytest.fixture
def token(django_api, orders_api) -> str:
    return token_for(orders_api)


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def async_bearer(token: str) -> dict[str, dict[str, str]]:
    """The header for ``AsyncClient`` (its other keywords go into the ASGI scope, not the headers)."""
    return {"headers": {"Authorization": f"Bearer {token}"}}


def challenge(response) -> str:
    return response.headers.get("WWW-Authenticate", "")


@pytest.mark.parametrize("path", WHOAMI)
def test_a_valid_token_reaches_the_view_with_its_caller(client, path, token, azure_emulator):
    response = client.get(path, **bearer(token))
    assert response.status_code == 200, response.content
    identity = azure_emulator.directory.system_identity
    assert response.json()["client_id"] == identity.client_id
    assert response.json()["tenant_id"] == azure_emulator.tenant_id
    assert response.json()["is_app"] is True


@pytest.mark.asyncio
@pytest.mark.parametrize("path", WHOAMI)
async def test_async_views_under_the_asgi_handler(path, token, azure_emulator):
    response = await AsyncClient().get(path, **async_bearer(token))
    assert response.status_code == 200, response.content
    assert response.json()["client_id"] == azure_emulator.directory.system_identity.client_id


@pytest.mark.parametrize("path", [*WHOAMI, *ORDERS])
def test_no_token_is_401_with_a_plain_bearer_challenge(client, path, django_api):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Basic dXNlcjpwdw=="}):
        response = client.get(path, **headers)
        assert response.status_code == 401
        assert challenge(response) == "Bearer"
        assert response["Content-Type"] == "application/json"
        assert set(response.json()) <= {"error", "error_description"}


@pytest.mark.parametrize("path", WHOAMI)
def test_a_bad_token_is_401_invalid_token_and_says_nothing_more(
    client, path, django_api, orders_api, azure_emulator, caplog
):
    header, payload, signature = issued(azure_emulator, orders_api.app_id_uri).split(".")
    wrong = {
        "another audience": issued(azure_emulator, "api://someone-else"),
        "expired": issued(azure_emulator, orders_api.app_id_uri, lifetime=-3600),
        "tampered": f"{header}.{payload[:-4]}AAAA.{signature}",
        "not a JWT": "not-a-token",
    }
    answers = []
    with caplog.at_level(logging.INFO, logger="appauth_core"):
        for token in wrong.values():
            response = client.get(path, **bearer(token))
            assert response.status_code == 401
            assert challenge(response).startswith('Bearer error="invalid_token"')
            answers.append(response.content)
    assert len(set(answers)) == 1  # one answer for every reason: none of them helps an attacker
    body = json.loads(answers[0])
    assert body["error"] == "invalid_token"
    assert not {"audience", "expired", "signature", "aud", "exp"} & set(body["error_description"].lower().split())
    for token in wrong.values():
        assert token not in caplog.text  # the reason is logged, the token never
    assert len([r for r in caplog.records if "Refused" in r.getMessage()]) == len(wrong)


@pytest.mark.parametrize("path", ORDERS)
def test_a_missing_role_is_403_insufficient_scope(client, path, django_api, orders_api, assign):
    assign("Orders.Write")
    response = client.get(path, **bearer(token_for(orders_api)))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in challenge(response)
    assert response.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize("path", ORDERS)
def test_the_role_lets_the_caller_in(client, path, django_api, orders_api, assign):
    assign("Orders.Read", "Other")
    response = client.get(path, **bearer(token_for(orders_api)))
    assert response.status_code == 200, response.content
    assert response.json()["roles"] == ["Orders.Read", "Other"]


@pytest.mark.asyncio
async def test_the_async_mixin_refuses_and_accepts_under_asgi(django_api, orders_api, assign):
    client = AsyncClient()
    assert (await client.get("/api/cbv/async/orders")).status_code == 401
    assign("Orders.Read")
    response = await client.get("/api/cbv/async/orders", **async_bearer(token_for(orders_api)))
    assert response.status_code == 200
    assert response.json()["view"] == "AsyncOrdersView"


def test_as_view_sets_the_roles_per_url(client, token):
    response = client.get("/api/cbv/orders/any", **bearer(token))
    assert response.status_code == 200
    assert response.json()["view"] == "OrdersView"


def test_a_users_token_with_the_scope(client, django_api, orders_api, azure_emulator):
    """A delegated (user) token: ``scp`` holds the scope the view asks for; one without it is refused."""
    user = azure_emulator.issue_user_token(orders_api, scopes=("Orders.Read", "profile"))
    response = client.get("/api/my-orders", **bearer(user))
    assert response.status_code == 200, response.content
    assert response.json()["scopes"] == ["Orders.Read", "profile"]
    assert response.json()["is_app"] is False
    other = azure_emulator.issue_user_token(orders_api, scopes=("profile",))
    assert client.get("/api/my-orders", **bearer(other)).status_code == 403
    assert client.get("/api/my-orders", **bearer(token_for(orders_api))).status_code == 403  # an app has no scp


def test_a_v2_api_accepts_its_client_id_as_audience(client, settings, azure_emulator, azure_emulator_env):
    api = register_orders_api(azure_emulator, "django-v2", version=2)
    settings.APPAUTH = {"API": api_settings(azure_emulator, [api.app_id_uri, api.app_id])}
    response = client.get("/api/whoami", **bearer(token_for(api)))
    assert response.status_code == 200, response.content
    assert response.json()["version"] == "2.0"


def test_a_view_without_the_decorator_has_no_caller(client, token):
    assert client.get("/api/unprotected", **bearer(token)).json() == {"caller": None}


def test_a_protected_post_needs_no_csrf_token(settings, django_api, orders_api, assign):
    """A bearer token is no ambient credential: a cross-site form cannot attach it, so CSRF does not apply."""
    settings.MIDDLEWARE = ["django.middleware.csrf.CsrfViewMiddleware", *settings.MIDDLEWARE]
    client = Client(enforce_csrf_checks=True)
    assign("Orders.Write")
    good = bearer(token_for(orders_api))
    response = client.post("/api/orders/add", data={"id": 7}, content_type="application/json", **good)
    assert response.status_code == 200, response.content
    assert response.json()["added"] == {"id": 7}
    assert client.post("/api/orders/add", data={}, content_type="application/json").status_code == 401


def test_views_work_without_the_middleware(settings, token):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "AppAuthMiddleware" not in m]
    assert Client().get("/api/whoami", **bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("roles", "message"),
    [(["Orders.Read", 3], r"require_token\(roles=...\)"), (5, r"require_token\(roles=...\)")],
)
def test_wrong_roles_fail_where_the_view_is_declared(roles, message):
    from appauth_django.decorators import require_token

    with pytest.raises(TypeError, match=message):
        require_token(roles=roles)


def test_a_wrong_class_attribute_fails_where_the_class_is_defined():
    from django.views import View

    from appauth_django.views import TokenRequiredMixin

    with pytest.raises(TypeError, match=r"Broken\.required_scopes"):
        type("Broken", (TokenRequiredMixin, View), {"required_scopes": [None]})


def test_keys_that_cannot_be_had_are_503_not_401(client, settings, orders_api, azure_emulator, azure_emulator_env):
    """The authority does not answer (nothing listens there) and no keys are cached: the token may be valid,
    so the answer is 503 with Retry-After, not a 401 that would make the caller drop it."""
    from .servers import free_port

    settings.APPAUTH = {
        "API": {**api_settings(azure_emulator, orders_api.app_id_uri), "AUTHORITY": f"https://127.0.0.1:{free_port()}/"}
    }
    response = client.get("/api/whoami", **bearer(issued(azure_emulator, orders_api.app_id_uri)))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"] == "temporarily_unavailable"
    drf = client.get("/api/drf/any", **bearer(issued(azure_emulator, orders_api.app_id_uri)))
    assert drf.status_code == 503
    assert int(drf.headers["Retry-After"]) > 0
