"""Issue 15, item 4 for Flask: config keys that look like appauth's but are not read are ``init_app``
warnings, and ``g.appauth`` on an app ``init_app`` never saw says to call it (as Flask-SQLAlchemy says "did you
forget to call init_app"), instead of ``AttributeError: '_AppCtxGlobals' object has no attribute 'appauth'``."""

from __future__ import annotations

import warnings

import pytest
from flask import Flask, g, render_template_string

from appauth_core import AppAuthError, AppAuthNotInitialisedError, RequestAppAuth
from appauth_core.web import SettingNameWarning
from appauth_flask import AppAuth

VAULT = "https://myvault.vault.azure.net/"


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("APP_AUTH_KEY_VAULT_URL", "APPAUTH_KEY_VAULT_URL"),
        ("appauth_key_vault_url", "APPAUTH_KEY_VAULT_URL"),
        ("AppAuth_Template_Secrets", "APPAUTH_TEMPLATE_SECRETS"),
        ("APPAUTH", "APPAUTH_* keys"),  # Django's one dict, in a Flask app
        ("APP_AUTH", "APPAUTH_* keys"),
    ],
)
def test_a_near_miss_config_key_is_a_warning_at_init_app(key, meant):
    app = Flask(__name__)
    app.config[key] = VAULT
    with pytest.warns(SettingNameWarning) as caught:
        AppAuth(app)
    assert len(caught) == 1
    assert str(caught[0].message).startswith(f"app.config[{key!r}] is not read by appauth: did you mean {meant}")
    assert caught[0].filename == __file__  # it points at the init_app call, not into appauth


def test_the_right_keys_are_quiet():
    app = Flask(__name__)
    app.config.update(APPAUTH_KEY_VAULT_URL=VAULT, APP_NAME="reports")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AppAuth(app)


def test_g_appauth_without_init_app_says_to_call_it():
    appauth = AppAuth()  # the app factory forgot appauth.init_app(app)
    app = Flask("forgot_init_app")

    @app.get("/")
    def index() -> str:
        return g.appauth.secret("db-password")

    with app.test_request_context("/"), pytest.raises(AppAuthNotInitialisedError) as caught:
        index()
    assert "appauth.init_app(app)" in str(caught.value) and "'forgot_init_app'" in str(caught.value)
    assert isinstance(caught.value, AppAuthError)
    with app.app_context():
        assert not hasattr(g, "appauth")  # probing code keeps working
        assert render_template_string("[{{ g.appauth }}]") == "[]"  # Jinja: undefined, as before
        with pytest.raises(RuntimeError, match=r"appauth.init_app\(app\)"):
            appauth.services  # noqa: B018
        with pytest.raises(AttributeError, match=r"^something_else$"):  # any other name: Flask's own answer
            g.something_else  # noqa: B018


def test_g_appauth_outside_a_request_is_there_once_initialised(make_app):
    app = make_app()
    with app.app_context():  # a CLI command or a background job
        assert isinstance(g.appauth, RequestAppAuth)
        assert g.appauth is g.appauth
