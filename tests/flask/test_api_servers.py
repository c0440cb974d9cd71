"""The Flask halves served for real (issue 17): ``tests/flask/api_app.py`` under gunicorn (two workers)
checks the managed identity's real tokens in sync and async views, and a Flask app calls it through
``g.appauth.api("orders")``: the token is attached for the API's resource and the API validates it."""

from __future__ import annotations

import pytest
import requests
from flask import Flask, g

from appauth_core import AzureServiceTokenProvider
from tests.api_support import register_orders_api


@pytest.fixture
def orders_api(azure_emulator):
    return register_orders_api(azure_emulator, "flask-served")


@pytest.fixture
def served(gunicorn, orders_api, azure_emulator):
    return gunicorn(
        "tests.flask.api_app:create_app()",
        env={
            "FLASK_APPAUTH_API_AUDIENCE": orders_api.app_id_uri,
            "FLASK_APPAUTH_API_TENANT_ID": azure_emulator.tenant_id,
            "FLASK_APPAUTH_API_AUTHORITY": azure_emulator.authority,
        },
    )


def test_gunicorn_workers_check_tokens(served, orders_api, azure_emulator, azure_emulator_env):
    token = AzureServiceTokenProvider().get_access_token(orders_api.app_id_uri)
    for path in ("/whoami", "/async/whoami"):
        refused = served.get(path)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        answers = [
            requests.get(served.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=20) for _ in range(4)
        ]
        assert {answer.status_code for answer in answers} == {200}
        assert {answer.json()["client_id"] for answer in answers} == {
            azure_emulator.directory.system_identity.client_id
        }
    forged = requests.get(served.url + "/whoami", headers={"Authorization": f"Bearer {token[:-6]}AAAAAA"}, timeout=20)
    assert forged.status_code == 401
    assert forged.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_g_appauth_api_calls_the_served_api_with_its_token(make_app, served, orders_api, azure_emulator):
    def routes(app: Flask) -> None:
        @app.get("/downstream/<path:path>")
        def downstream(path: str) -> dict[str, object]:
            answer = g.appauth.api("orders").get(path)
            return {"status": answer.status_code, "body": answer.json()}

    app = make_app(
        setup=routes,
        APPAUTH_DOWNSTREAM_APIS={"orders": {"BASE_URL": served.url + "/", "RESOURCE": orders_api.app_id_uri}},
    )
    client = app.test_client()
    seen = client.get("/downstream/whoami").json
    assert seen["status"] == 200
    assert seen["body"]["client_id"] == azure_emulator.directory.system_identity.client_id
    assert seen["body"]["roles"] == []
    assert client.get("/downstream/orders").json["status"] == 403  # the API checks roles: none assigned yet
    azure_emulator.assign_role(orders_api, azure_emulator.directory.system_identity, "Orders.Read")
    AzureServiceTokenProvider().get_access_token(orders_api.app_id_uri, force_refresh=True)  # a token with it
    orders = client.get("/downstream/orders").json
    assert orders["status"] == 200
    assert orders["body"]["roles"] == ["Orders.Read"]
