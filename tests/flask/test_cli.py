"""Issue 6, item 5: ``flask appauth whoami | token | secret | check`` (in-process, through Flask's runner;
``test_readme.py`` runs the real ``flask`` command)."""

from __future__ import annotations

import uuid

import pytest

from tests.flask.support import reference

STORAGE = "https://storage.azure.com"


@pytest.fixture
def run(make_app):
    def invoke(*args: str, color: bool = False, **config):
        app = config.pop("app", None) or make_app(**config)
        return app.test_cli_runner().invoke(args=["appauth", *args], color=color)

    return invoke


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_whoami(run, azure_emulator):
    result = run("whoami")
    assert result.exit_code == 0, result.output
    assert "[ok]   Signed in via" in result.stdout
    assert f"app id: {azure_emulator.directory.system_identity.client_id}" in result.stdout


def test_whoami_without_an_identity_fails_with_a_sentence(run):
    result = run("whoami", APPAUTH_CONNECTION_STRING=f"RunAs=App;AppId={uuid.uuid4()}")
    assert result.exit_code == 1
    assert "[fail] No identity:" in result.stderr
    _no_traceback(result)


def test_token_shows_claims_and_a_fingerprint_not_the_token(run):
    result = run("token", "--resource", STORAGE)
    assert result.exit_code == 0, result.output
    assert f"aud: {STORAGE}" in result.stdout
    assert "token: sha256:" in result.stdout
    assert "eyJ" not in result.output  # no JWT (header, claims or whole token) is printed


def test_token_raw_prints_only_the_token_on_stdout(run, azure_emulator):
    result = run("token", "--resource", STORAGE, "--raw")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert azure_emulator.issuer.verify(token)["aud"] == STORAGE
    assert "[ok]" in result.stderr


@pytest.fixture
def service_principal(azure_emulator):
    app = azure_emulator.app
    return {
        "APPAUTH_CONNECTION_STRING": f"RunAs=App;AppId={app.app_id};TenantId={azure_emulator.tenant_id};"
        f"AppKey={app.secrets[0]}",
        "APPAUTH_AZURE_AD_INSTANCE": azure_emulator.authority,
    }


def test_token_tenant_option_is_passed(run, azure_emulator, service_principal):
    home = run("token", "--resource", STORAGE, "--tenant", azure_emulator.tenant_id, "--raw", **service_principal)
    assert home.exit_code == 0, home.output
    assert azure_emulator.issuer.verify(home.stdout.strip())["tid"] == azure_emulator.tenant_id
    other = azure_emulator.directory.add_tenant().tenant_id
    elsewhere = run("token", "--resource", STORAGE, "--tenant", other, **service_principal)
    assert elsewhere.exit_code == 1  # the app is not registered in that tenant: a sentence, not a traceback
    assert "[fail]" in elsewhere.stderr
    assert other in elsewhere.stderr
    assert azure_emulator.app.secrets[0] not in elsewhere.output
    _no_traceback(elsewhere)


def test_token_failure_is_a_sentence(run, azure_emulator):
    azure_emulator.faults.inject("mi.app_service", status=400, times=1)
    result = run("token", "--resource", f"https://flask-{uuid.uuid4().hex[:8]}.example.test/")
    assert result.exit_code == 1
    assert "[fail]" in result.stderr
    _no_traceback(result)


def test_secret_shows_metadata_and_hides_the_value(run, canary, azure_emulator):
    value = canary("flask-cli-secret")
    result = run("secret", "flask-cli-secret")
    assert result.exit_code == 0, result.output
    assert f"[ok]   Secret 'flask-cli-secret' in {azure_emulator.vault.url}" in result.stdout
    assert "value: hidden (use --reveal to print it)" in result.stdout
    assert value not in result.output


def test_secret_reveal_prints_only_the_value_on_stdout(run, canary):
    value = canary("flask-cli-secret")
    result = run("secret", "flask-cli-secret", "--reveal")
    assert result.exit_code == 0, result.output
    assert result.stdout == value + "\n"
    assert "[ok]" in result.stderr


def test_a_missing_secret_is_a_sentence_and_exit_code_1(run):
    result = run("secret", "flask-no-such-secret")
    assert result.exit_code == 1
    assert "[fail]" in result.stderr
    assert "flask-no-such-secret" in result.stderr
    _no_traceback(result)


def test_check_tries_template_secrets_and_the_references_resolved_at_init_app(run, canary, azure_emulator):
    password = canary("flask-check-password")
    canary("flask-check-banner")
    result = run(
        "check",
        APPAUTH_TEMPLATE_SECRETS=["flask-check-banner"],
        DB={"password": reference(azure_emulator.vault.url, "flask-check-password")},
    )
    assert result.exit_code == 0, result.output
    assert "[ok]   token for https://vault.azure.net via" in result.stdout
    assert "[ok]   template secret 'flask-check-banner' is readable" in result.stdout
    assert "[ok]   DB['password'] resolves" in result.stdout
    assert password not in result.output


def test_check_fails_for_what_does_not_work(run, canary, azure_emulator):
    canary("flask-check-banner")
    result = run(
        "check",
        APPAUTH_TEMPLATE_SECRETS=["flask-check-banner", "flask-check-missing"],
        APPAUTH_RESOLVE_REFERENCES=False,
        LATER=[reference(azure_emulator.vault.url, "flask-check-also-missing")],
    )
    assert result.exit_code == 1
    assert "[ok]   template secret 'flask-check-banner' is readable" in result.stdout
    assert "[fail] template secret 'flask-check-missing'" in result.stderr
    assert "[fail] LATER[0]:" in result.stderr
    _no_traceback(result)


def test_lines_are_coloured_on_a_terminal(run):
    result = run("whoami", color=True)
    assert result.exit_code == 0
    assert "\x1b[32m[ok]" in result.stdout
