"""One ``AppAuth()`` object initialised on two apps with different config: each app gets its own identity,
vault, template allow-list, references and CLI answers."""

from __future__ import annotations

import pytest
from flask import Flask, g, render_template_string

from appauth_flask import AppAuth
from tests.flask.support import reference


@pytest.fixture
def second_vault(azure_emulator):
    return azure_emulator.vaults.get("flask-second") or azure_emulator.add_vault("flask-second")


@pytest.fixture
def two_apps(make_app, azure_emulator, second_vault, canary):
    appauth = AppAuth()
    values = {
        "first": canary("flask-shared-name"),
        "second": canary("flask-shared-name", vault=second_vault),
    }
    sp = azure_emulator.app
    first = make_app(
        appauth,
        APPAUTH_TEMPLATE_SECRETS=["flask-shared-name"],
        REFERENCED=reference(azure_emulator.vault.url, "flask-shared-name"),
    )
    second = make_app(
        appauth,
        APPAUTH_CONNECTION_STRING=f"RunAs=App;AppId={sp.app_id};TenantId={azure_emulator.tenant_id};AppKey={sp.secrets[0]}",
        APPAUTH_AZURE_AD_INSTANCE=azure_emulator.authority,
        APPAUTH_KEY_VAULT_URL=second_vault.url,
        REFERENCED=reference(second_vault.url, "flask-shared-name"),
    )
    for app in (first, second):

        @app.get("/")
        def index() -> dict[str, str | None]:
            secret = g.appauth.secret("flask-shared-name")
            g.appauth.get_access_token("https://storage.azure.com/")
            banner = render_template_string("{{ keyvault_secret('flask-shared-name') }}")
            return {"secret": secret, "app_id": g.appauth.principal.app_id, "banner": banner}

    return appauth, first, second, values


def test_each_app_has_its_own_state(two_apps):
    appauth, first, second, _ = two_apps
    assert first.extensions["appauth"] is not second.extensions["appauth"]
    assert vars(appauth) == {}


def test_requests_use_their_own_apps_identity_vault_and_allow_list(two_apps, azure_emulator):
    _, first, second, values = two_apps
    one = first.test_client().get("/").json
    two = second.test_client().get("/").json
    assert one == {
        "secret": values["first"],
        "app_id": azure_emulator.directory.system_identity.client_id,
        "banner": values["first"],
    }
    assert two == {"secret": values["second"], "app_id": azure_emulator.app.app_id, "banner": ""}


def test_references_resolve_against_each_apps_config(two_apps):
    _, first, second, values = two_apps
    assert first.config["REFERENCED"] == values["first"]
    assert second.config["REFERENCED"] == values["second"]


def test_the_extension_object_follows_the_current_app(two_apps):
    appauth, first, second, values = two_apps
    for app, expected in ((first, values["first"]), (second, values["second"])):
        with app.app_context():
            assert appauth.secret("flask-shared-name") == expected
            assert appauth.services is app.extensions["appauth"]


def test_the_cli_answers_for_its_own_app(two_apps, second_vault, azure_emulator):
    _, first, second, values = two_apps
    for app, vault_url, expected in (
        (first, azure_emulator.vault.url, values["first"]),
        (second, second_vault.url, values["second"]),
    ):
        result = app.test_cli_runner().invoke(args=["appauth", "secret", "flask-shared-name", "--reveal"])
        assert result.exit_code == 0, result.output
        assert result.stdout == expected + "\n"
        assert vault_url in result.stderr


def test_an_app_without_appauth_is_unaffected(two_apps):
    bare = Flask("bare")
    bare.add_url_rule("/", "index", lambda: "plain")
    assert bare.test_client().get("/").text == "plain"
    assert "appauth" not in bare.extensions
