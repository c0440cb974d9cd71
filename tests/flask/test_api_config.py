"""Issue 17's Flask keys: ``APPAUTH_API_*`` (the validator) and ``APPAUTH_DOWNSTREAM_APIS``, read by
``init_app``, whose errors name the Flask key."""

from __future__ import annotations

import pytest

from appauth_core import ConfigError

AUDIENCE = "api://appauth-flask-orders"
ORDERS = {"BASE_URL": "https://orders.example.com/", "RESOURCE": "api://orders"}
TENANT = "00000000-0000-0000-0000-000000000001"


def test_the_keys_are_read(make_app, azure_emulator):
    app = make_app(
        APPAUTH_API_AUDIENCE=[AUDIENCE, "00000000-0000-0000-0000-00000000000a"],
        APPAUTH_API_TENANT_ID=azure_emulator.tenant_id,
        APPAUTH_API_ALLOWED_CLIENT_IDS=["00000000-0000-0000-0000-00000000000b"],
        APPAUTH_API_AUTHORITY=azure_emulator.authority,
        APPAUTH_API_LEEWAY=30,
        APPAUTH_DOWNSTREAM_APIS={"orders": {**ORDERS, "TIMEOUT": 7}},
    )
    services = app.extensions["appauth"]
    assert services.config.api["TENANT_ID"] == azure_emulator.tenant_id
    assert services.config.api["LEEWAY"] == 30
    assert [api.name for api in services.config.downstream_apis] == ["orders"]
    assert services.config.downstream_apis[0].timeout == 7
    assert services.validator is services.validator
    assert services.downstream_api("orders") is services.downstream_api("orders")


def test_allowed_tenants_instead_of_one(make_app, azure_emulator):
    app = make_app(APPAUTH_API_AUDIENCE=AUDIENCE, APPAUTH_API_ALLOWED_TENANTS=[azure_emulator.tenant_id, TENANT])
    assert app.extensions["appauth"].config.api["ALLOWED_TENANTS"] == [azure_emulator.tenant_id, TENANT]


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"APPAUTH_API_TENANT_ID": TENANT}, "APPAUTH_API_AUDIENCE"),
        ({"APPAUTH_API_AUDIENCE": AUDIENCE, "APPAUTH_API_TENANT_ID": TENANT, "APPAUTH_API_LEEWAY": "soon"},
         "APPAUTH_API_LEEWAY"),
        ({"APPAUTH_API_AUDIENCE": AUDIENCE, "APPAUTH_API_TENANT_ID": TENANT, "APPAUTH_API_AUDIANCE": "x"},
         "APPAUTH_API_AUDIANCE"),
        ({"APPAUTH_API": {"AUDIENCE": AUDIENCE}}, "APPAUTH_API"),
        ({"APPAUTH_DOWNSTREAM_APIS": {"orders": {**ORDERS, "BASE_URL": "http://orders.example.com/"}}},
         "APPAUTH_DOWNSTREAM_APIS['orders']['BASE_URL']"),
        ({"APPAUTH_DOWNSTREAM_APIS": {"orders": {"BASE_URL": "https://orders.example.com/"}}},
         "APPAUTH_DOWNSTREAM_APIS['orders']['RESOURCE']"),
        ({"APPAUTH_DOWNSTREAM_APIS": ["orders"]}, "APPAUTH_DOWNSTREAM_APIS"),
    ],
)  # fmt: skip
def test_a_wrong_value_stops_init_app_naming_the_flask_key(make_app, config, key):
    with pytest.raises(ConfigError) as caught:
        make_app(**config)
    assert caught.value.setting == key
    assert key in str(caught.value)


def test_an_unknown_key_lists_the_api_keys_as_flask_spells_them(make_app):
    with pytest.raises(ConfigError) as caught:
        make_app(APPAUTH_DOWNSTREAM_API={})
    message = str(caught.value)
    assert "Did you mean APPAUTH_DOWNSTREAM_APIS?" in message
    assert "APPAUTH_API_AUDIENCE" in message and "APPAUTH_API_LEEWAY" in message
    assert "APPAUTH_API," not in message  # Django's nested dict is not a Flask key


def test_an_unknown_api_name_lists_the_configured_ones(make_app):
    app = make_app(APPAUTH_DOWNSTREAM_APIS={"orders": ORDERS})
    with app.test_request_context("/"):
        from flask import g

        with pytest.raises(ConfigError, match=r"No downstream API named 'billing'.*'orders'"):
            g.appauth.api("billing")


def test_a_protected_view_without_api_keys_says_what_to_set(make_app):
    from flask import Flask

    from appauth_flask import AppAuth

    appauth = AppAuth()
    app = Flask(__name__)
    appauth.init_app(app)

    @app.get("/p")
    @appauth.require_token
    def protected() -> str:
        return "never"

    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(ConfigError, match="APPAUTH_API_AUDIENCE"):
        app.test_client().get("/p", headers={"Authorization": "Bearer x"})
