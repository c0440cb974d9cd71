"""The DRF classes (issue 17) in real Django REST framework views: ``AppAuthTokenAuthentication`` answers 401
with the Bearer challenge (not DRF's 403), ``HasAppRole`` 403 ``insufficient_scope``; ``request.auth`` is the
caller, also ``request.appauth.caller``; ``request.user`` a ``CallerUser``."""

from __future__ import annotations

import pytest

from appauth_core import AzureServiceTokenProvider
from tests.api_support import api_settings, issued, register_orders_api


@pytest.fixture
def orders_api(azure_emulator):
    return register_orders_api(azure_emulator, "drf-orders")


@pytest.fixture
def django_api(settings, orders_api, azure_emulator, azure_emulator_env):
    settings.APPAUTH = {"API": api_settings(azure_emulator, orders_api.app_id_uri)}
    return settings


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def token_with(emulator, api, *roles: str) -> str:
    """The system-assigned managed identity's real token for ``api``, once it holds ``roles``."""
    for role in roles:
        emulator.assign_role(api, emulator.directory.system_identity, role)
    return AzureServiceTokenProvider().get_access_token(api.app_id_uri)


def test_a_caller_with_the_role_is_authenticated(client, django_api, orders_api, azure_emulator):
    identity = azure_emulator.directory.system_identity
    response = client.get("/api/drf/orders", **bearer(token_with(azure_emulator, orders_api, "Orders.Read")))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["client_id"] == identity.client_id
    assert body["roles"] == ["Orders.Read"]
    assert body["user"] == identity.object_id  # CallerUser: the token's subject, no database row
    assert body["same_caller"] is True


def test_any_valid_token_where_the_view_names_no_role(client, django_api, orders_api, azure_emulator):
    response = client.get("/api/drf/any", **bearer(token_with(azure_emulator, orders_api)))
    assert response.status_code == 200, response.content
    assert response.json()["roles"] == []


def test_no_token_is_401_with_the_bearer_challenge(client, django_api):
    response = client.get("/api/drf/orders")
    assert response.status_code == 401  # DRF answers 403 when the first class has no challenge
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_bad_token_is_401_invalid_token(client, django_api, orders_api, azure_emulator):
    for token in (
        issued(azure_emulator, "api://not-this-one"),
        issued(azure_emulator, orders_api.app_id_uri, lifetime=-600),
    ):
        response = client.get("/api/drf/orders", **bearer(token))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        assert response.json()["error"] == "invalid_token"
        assert set(response.json()) == {"error", "error_description"}


def test_a_missing_role_is_403_insufficient_scope(client, django_api, orders_api, azure_emulator):
    response = client.get("/api/drf/orders", **bearer(token_with(azure_emulator, orders_api, "Orders.Write")))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert response.json()["error"] == "insufficient_scope"


def test_another_authorization_scheme_is_left_to_other_classes(client, django_api):
    response = client.get("/api/drf/orders", HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
