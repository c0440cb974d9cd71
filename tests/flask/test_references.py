"""Issue 6, item 2: ``@Microsoft.KeyVault(...)`` values anywhere in ``app.config`` are resolved at
``init_app``, concurrently; a failure raises there naming the key, and no literal reference remains."""

from __future__ import annotations

import logging
import time

import pytest
from flask import g, render_template_string

from appauth_core.keyvault import find_references
from appauth_core.web import ReferenceResolutionError
from tests.flask.support import reference


def test_top_level_and_nested_references_are_resolved(make_app, azure_emulator, canary):
    url = azure_emulator.vault.url
    password, api_key, other = canary("flask-db-password"), canary("flask-api-key"), canary("flask-other")
    app = make_app(
        DATABASE_PASSWORD=reference(url, "flask-db-password"),
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"password": reference(url, "flask-db-password"), "port": 5432}},
        UPSTREAMS=[{"name": "a", "key": reference(url, "flask-api-key")}, "plain"],
        PAIR=("x", reference(url, "flask-other")),
        PLAIN="unchanged",
    )
    assert app.config["DATABASE_PASSWORD"] == password
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"connect_args": {"password": password, "port": 5432}}
    assert app.config["UPSTREAMS"] == [{"name": "a", "key": api_key}, "plain"]
    assert app.config["PAIR"] == ("x", other)
    assert app.config["PLAIN"] == "unchanged"
    assert list(find_references(app.config)) == []
    # The same reference twice is one vault read.
    assert azure_emulator.counters["keyvault.local.get_secret"] == 3


def test_references_are_resolved_concurrently(make_app, azure_emulator, canary):
    url = azure_emulator.vault.url
    names = [f"flask-slow-{i}" for i in range(4)]
    for name in names:
        canary(name)
    azure_emulator.faults.inject("keyvault.local.get_secret", delay=0.5, times=len(names))
    started = time.monotonic()
    app = make_app(**{f"SLOW_{i}": reference(url, name) for i, name in enumerate(names)})
    elapsed = time.monotonic() - started
    assert list(find_references(app.config)) == []
    assert elapsed < 0.5 * len(names) - 0.3, f"took {elapsed:.2f} s: the reads were not concurrent"


def test_a_missing_secret_raises_at_init_app_naming_the_nested_key(make_app, azure_emulator, canary):
    url = azure_emulator.vault.url
    present = canary("flask-present")
    with pytest.raises(ReferenceResolutionError) as caught:
        make_app(
            GOOD=reference(url, "flask-present"),
            SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"password": reference(url, "flask-missing")}},
        )
    assert caught.value.setting == "SQLALCHEMY_ENGINE_OPTIONS['connect_args']['password']"
    assert "flask-missing" in str(caught.value)
    assert present not in str(caught.value)


def test_a_vault_that_is_not_allowed_gets_no_token(make_app, azure_emulator):
    with pytest.raises(ReferenceResolutionError, match="EVIL") as caught:
        make_app(EVIL="@Microsoft.KeyVault(SecretUri=https://evil.example.test/secrets/x)")
    assert "not an allowed Key Vault host" in caught.value.reason
    assert azure_emulator.counters["mi.app_service"] == 0


def test_a_malformed_reference_names_the_key(make_app):
    with pytest.raises(ReferenceResolutionError, match=r"^BROKEN\[0\]: "):
        make_app(BROKEN=["@Microsoft.KeyVault(SecretName=only)"])


def test_resolution_can_be_turned_off(make_app, azure_emulator, canary):
    canary("flask-lazy")
    literal = reference(azure_emulator.vault.url, "flask-lazy")
    app = make_app(APPAUTH_RESOLVE_REFERENCES=False, LAZY=literal)
    assert app.config["LAZY"] == literal
    assert azure_emulator.counters["keyvault"] == 0


def test_no_references_means_no_io_at_init_app(make_app, azure_emulator):
    make_app(PLAIN="value")
    assert azure_emulator.counters.snapshot() == {}


def test_no_value_reaches_any_log_even_at_debug(make_app, azure_emulator, canary, caplog):
    url = azure_emulator.vault.url
    value = canary("flask-logged")
    with caplog.at_level(logging.DEBUG):
        app = make_app(REFERENCED=reference(url, "flask-logged"), APPAUTH_TEMPLATE_SECRETS=[])

        @app.get("/")
        def index() -> str:
            g.appauth.secret("flask-logged")
            return render_template_string("{{ keyvault_secret('flask-logged') }}")

        app.config.update(TESTING=False, DEBUG=False)
        assert app.test_client().get("/").text == ""
        result = app.test_cli_runner().invoke(args=["appauth", "check"])
        assert result.exit_code == 0, result.output
        with pytest.raises(ReferenceResolutionError):
            make_app(BROKEN=reference(url, "flask-logged-missing"), OK=reference(url, "flask-logged"))
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert value not in caplog.text
    assert value not in result.output
