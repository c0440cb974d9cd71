"""``APPAUTH['API']`` and ``APPAUTH['DOWNSTREAM_APIS']`` (issue 17): wrong values are system-check errors
(``appauth.E012`` / ``appauth.E013``) that name the setting down to the inner key, reported with the other
problems at once; the services build the validator and the downstream sessions once; an unknown API name
says which are configured."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from appauth_core import ConfigError, RequestAppAuth
from appauth_django import conf

AUDIENCE = "api://appauth-django-orders"
ORDERS = {"BASE_URL": "https://orders.example.com/api/", "RESOURCE": "api://orders"}


def found(code: str) -> list[str]:
    return [message.msg for message in run_checks(tags=["appauth"]) if message.id == code]


def ids() -> list[str]:
    return [message.id for message in run_checks(tags=["appauth"])]


@pytest.fixture
def api(azure_emulator, azure_emulator_env) -> dict[str, object]:
    return {"AUDIENCE": AUDIENCE, "TENANT_ID": azure_emulator.tenant_id, "AUTHORITY": azure_emulator.authority}


def test_a_good_api_and_downstream_apis_have_no_messages(settings, api):
    settings.APPAUTH = {"API": api, "DOWNSTREAM_APIS": {"orders": ORDERS, "local": {**ORDERS, "TIMEOUT": 5,
                        "BASE_URL": "http://127.0.0.1:8123/"}}}  # fmt: skip
    assert ids() == []
    services = conf.get_services()
    assert services.validator is services.validator  # made once, with the services
    assert services.downstream_api("orders") is services.downstream_api("orders")
    assert services.downstream_api("orders") is not services.downstream_api("local")


@pytest.mark.parametrize(
    ("api", "setting"),
    [
        ({"TENANT_ID": "00000000-0000-0000-0000-000000000001"}, "APPAUTH['API']['AUDIENCE']"),
        ({"AUDIENCE": AUDIENCE, "TENANT_ID": "00000000-0000-0000-0000-000000000001", "AUDIANCE": "x"},
         "APPAUTH['API']['AUDIANCE']"),
        ({"AUDIENCE": AUDIENCE, "TENANT_ID": "00000000-0000-0000-0000-000000000001", "LEEWAY": "60"},
         "APPAUTH['API']['LEEWAY']"),
        ("api://orders", "APPAUTH['API']"),
    ],
)  # fmt: skip
def test_e012_a_wrong_api_names_the_key(settings, api, setting):
    settings.APPAUTH = {"API": api}
    assert ids() == ["appauth.E012"]
    assert setting in found("appauth.E012")[0]


@pytest.mark.parametrize(
    ("entry", "setting", "words"),
    [
        ({**ORDERS, "BASE_URL": "http://orders.example.com/"}, "['BASE_URL']", "https"),
        ({**ORDERS, "BASE_URL": "https://user:pw@orders.example.com/"}, "['BASE_URL']", "user name"),
        ({**ORDERS, "BASE_URL": "orders.example.com"}, "['BASE_URL']", "absolute"),
        ({"RESOURCE": "api://orders"}, "['BASE_URL']", "required"),
        ({"BASE_URL": ORDERS["BASE_URL"]}, "['RESOURCE']", "required"),
        ({**ORDERS, "TIMEOUT": 0}, "['TIMEOUT']", "> 0"),
        ({**ORDERS, "TIMEOUT": "10"}, "['TIMEOUT']", "seconds"),
        ({**ORDERS, "BASE_URI": "x"}, "['BASE_URI']", "Did you mean APPAUTH['DOWNSTREAM_APIS']['orders']['BASE_URL']"),
        ("https://orders.example.com/", "", "dict"),
    ],
)
def test_e013_a_wrong_downstream_api_names_the_key(settings, entry, setting, words):
    settings.APPAUTH = {"DOWNSTREAM_APIS": {"orders": entry}}
    assert ids() == ["appauth.E013"]
    message = found("appauth.E013")[0]
    assert f"APPAUTH['DOWNSTREAM_APIS']['orders']{setting}" in message
    assert words in message


def test_http_is_allowed_to_loopback_only(settings):
    for host in ("127.0.0.1:8000", "[::1]:8000", "localhost:8000", "127.9.9.9"):
        settings.APPAUTH = {"DOWNSTREAM_APIS": {"orders": {**ORDERS, "BASE_URL": f"http://{host}/"}}}
        assert ids() == [], host


def test_every_problem_is_reported_at_once(settings):
    settings.APPAUTH = {
        "API": {"TENANT_ID": "00000000-0000-0000-0000-000000000001"},
        "DOWNSTREAM_APIS": {"orders": {"BASE_URL": "http://orders.example.com/", "RESOURCE": "api://orders"}},
        "KEY_VAULT_URL": "http://myvault.vault.azure.net/",
    }
    assert sorted(ids()) == ["appauth.E002", "appauth.E012", "appauth.E013"]


def test_a_reference_is_refused_as_an_api_value(settings):
    settings.APPAUTH = {"API": {"AUDIENCE": "@Microsoft.KeyVault(VaultName=v;SecretName=audience)"}}
    assert ids() == ["appauth.E012"]
    assert "cannot be a @Microsoft.KeyVault(...) reference" in found("appauth.E012")[0]


def test_a_wrong_value_stops_the_services_naming_it(settings):
    settings.APPAUTH = {"DOWNSTREAM_APIS": {"orders": {**ORDERS, "BASE_URL": "ftp://orders.example.com/"}}}
    with pytest.raises(ImproperlyConfigured, match=r"APPAUTH\['DOWNSTREAM_APIS'\]\['orders'\]\['BASE_URL'\]"):
        conf.get_services()


def test_an_unknown_api_name_lists_the_configured_ones(settings, azure_emulator_env):
    settings.APPAUTH = {"DOWNSTREAM_APIS": {"orders": ORDERS, "billing": {**ORDERS, "RESOURCE": "api://billing"}}}
    facade = RequestAppAuth(conf.get_services())
    with pytest.raises(ConfigError) as caught:
        facade.api("ordrs")
    assert "'ordrs'" in str(caught.value) and "'orders', 'billing'" in str(caught.value)
    assert caught.value.setting == "APPAUTH['DOWNSTREAM_APIS']"


def test_a_protected_view_without_api_settings_says_what_to_set(settings, azure_emulator_env):
    from appauth_django.decorators import require_token

    settings.APPAUTH = {}
    view = require_token(lambda request: None)
    with pytest.raises(ConfigError, match=r"APPAUTH\['API'\]\['AUDIENCE'\]"):
        view(RequestFactory().get("/", HTTP_AUTHORIZATION="Bearer x"))


def test_the_settings_table_lists_the_new_keys():
    """docs/django.md's table is checked against the unknown-key message (tests/test_docs.py)."""
    with pytest.raises(ConfigError) as caught:
        conf.read_config({"NOT_A_SETTING": 1})
    assert "APPAUTH['API']" in str(caught.value) and "APPAUTH['DOWNSTREAM_APIS']" in str(caught.value)
