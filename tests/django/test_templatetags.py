"""{% keyvault_secret %}: only allow-listed names; anything else is an error in DEBUG and nothing in production."""

from __future__ import annotations

import logging

import pytest
from django.template import Context, Template

from appauth_core.web import TemplateSecretNotAllowedError


def render(text: str) -> str:
    return Template("{% load appauth %}" + text).render(Context({}))


def test_allowed_secret_renders_escaped(appauth_settings, vault_secrets):
    assert render('{% keyvault_secret "public-banner" %}') == "Hello from Key Vault &amp; &lt;friends&gt;"


def test_as_variable(appauth_settings, vault_secrets):
    assert (
        render('{% keyvault_secret "public-banner" as b %}[{{ b }}]') == "[Hello from Key Vault &amp; &lt;friends&gt;]"
    )


def test_page_through_the_middleware_stack(client, appauth_settings, vault_secrets):
    html = client.get("/banner").content.decode()
    assert html.count("Hello from Key Vault &amp; &lt;friends&gt;") == 2


def test_other_names_render_nothing_in_production(appauth_settings, azure_emulator, vault_secrets, caplog):
    appauth_settings.DEBUG = False
    with caplog.at_level(logging.WARNING, logger="appauth_django"):
        assert render('[{% keyvault_secret "db-password" %}]') == "[]"
        assert render('{% keyvault_secret "api-key" as k %}[{{ k }}]') == "[]"
    assert azure_emulator.counters["keyvault"] == 0  # never even fetched
    assert "'db-password'" in caplog.text and "TEMPLATE_SECRETS" in caplog.text
    assert vault_secrets["db-password"] not in caplog.text


def test_other_names_raise_in_debug(appauth_settings, azure_emulator, vault_secrets):
    appauth_settings.DEBUG = True
    with pytest.raises(TemplateSecretNotAllowedError, match=r"'db-password'.*APPAUTH\['TEMPLATE_SECRETS'\]") as caught:
        render('{% keyvault_secret "db-password" %}')
    assert vault_secrets["db-password"] not in str(caught.value)
    assert azure_emulator.counters["keyvault"] == 0


def test_empty_allow_list_by_default(settings, azure_emulator, azure_emulator_env, vault_secrets):
    settings.APPAUTH = {"KEY_VAULT_URL": azure_emulator.vault.url}
    settings.DEBUG = False
    assert render('{% keyvault_secret "public-banner" %}') == ""
