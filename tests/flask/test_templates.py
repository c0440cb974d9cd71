"""Issue 6, item 4: the ``keyvault_secret("name")`` Jinja global renders only allow-listed names."""

from __future__ import annotations

import logging

import pytest
from flask import render_template_string

from appauth_core.web import TemplateSecretNotAllowedError

PAGE = "<p>{{ keyvault_secret(name) }}</p>"


def _render(app, name: str) -> str:
    app.add_url_rule("/", "page", lambda: render_template_string(PAGE, name=name))
    response = app.test_client().get("/")
    assert response.status_code == 200
    return response.text


def test_an_allowed_name_renders_its_value_autoescaped(make_app, azure_emulator):
    azure_emulator.vault.set_secret("flask-banner", "<b>Maintenance</b> on Sunday")
    app = make_app(APPAUTH_TEMPLATE_SECRETS=["flask-banner"])
    assert _render(app, "flask-banner") == "<p>&lt;b&gt;Maintenance&lt;/b&gt; on Sunday</p>"


def test_another_name_renders_nothing_in_production(make_app, azure_emulator, canary, caplog):
    value = canary("flask-db-password")
    app = make_app(APPAUTH_TEMPLATE_SECRETS=["flask-banner"], TESTING=False, DEBUG=False)
    with caplog.at_level(logging.WARNING, logger="appauth_flask"):
        assert _render(app, "flask-db-password") == "<p></p>"
    assert "flask-db-password" in caplog.text
    assert value not in caplog.text
    assert azure_emulator.counters["keyvault"] == 0  # not even read


def test_another_name_raises_a_clear_error_in_debug(make_app, canary):
    value = canary("flask-db-password")
    app = make_app(APPAUTH_TEMPLATE_SECRETS=["flask-banner"], DEBUG=True)
    with app.test_request_context("/"), pytest.raises(TemplateSecretNotAllowedError) as caught:
        render_template_string(PAGE, name="flask-db-password")
    assert "APPAUTH_TEMPLATE_SECRETS" in str(caught.value)
    assert "flask-db-password" in str(caught.value)
    assert value not in str(caught.value)


def test_the_debug_error_page_does_not_show_the_value(make_app, canary):
    value = canary("flask-db-password")
    app = make_app(APPAUTH_TEMPLATE_SECRETS=["flask-banner"], DEBUG=True, TESTING=False, PROPAGATE_EXCEPTIONS=False)
    app.add_url_rule("/", "page", lambda: render_template_string(PAGE, name="flask-db-password"))
    response = app.test_client().get("/")
    assert response.status_code == 500
    assert value not in response.text


def test_each_app_has_its_own_global(make_app, azure_emulator):
    azure_emulator.vault.set_secret("flask-banner", "hello")
    open_app = make_app(APPAUTH_TEMPLATE_SECRETS=["flask-banner"])
    closed_app = make_app(APPAUTH_TEMPLATE_SECRETS=[])
    assert _render(open_app, "flask-banner") == "<p>hello</p>"
    assert _render(closed_app, "flask-banner") == "<p></p>"
