"""manage.py appauth whoami | token | secret | check."""

from __future__ import annotations

import io
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from appauth_core.tokens import unverified_claims

ARM = "https://management.azure.com/"


def run(*args: str, color: bool = False) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("appauth", *args, stdout=out, stderr=err, force_color=color, no_color=not color)
    return out.getvalue(), err.getvalue()


def fails(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("appauth", *args, stdout=out, stderr=err, no_color=True)
    assert caught.value.returncode == 1
    return out.getvalue(), err.getvalue()


def test_whoami_names_the_principal_and_the_method(appauth_settings, azure_emulator):
    out, err = run("whoami")
    identity = azure_emulator.directory.system_identity
    assert "[ok]" in out and "Managed identity" in out
    assert f"app id: {identity.client_id}" in out
    assert f"tenant: {azure_emulator.tenant_id}" in out
    assert err == ""


def test_whoami_says_why_each_method_failed(settings, monkeypatch, tmp_path):
    for name in (
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "AzureServicesAuthConnectionString",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")  # nothing listens: no IMDS
    monkeypatch.setenv("PATH", str(tmp_path))  # no az
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))  # no Visual Studio token provider
    monkeypatch.setenv("HOME", str(tmp_path))
    settings.APPAUTH = {}
    out, err = fails("whoami")
    assert "[fail] No identity" in err
    for method in ("Managed identity", *(["Visual Studio"] if sys.platform == "win32" else []), "Azure CLI"):
        assert method in err
    assert "Traceback" not in out + err


def test_token_shows_claims_not_the_token(appauth_settings, azure_emulator):
    out, err = run("token", "--resource", ARM)
    assert "Token for https://management.azure.com/" in out
    assert "aud: https://management.azure.com" in out
    assert "expires:" in out and "min)" in out
    assert "sha256:" in out
    assert "eyJ" not in out + err


def test_token_raw_prints_only_the_token_on_stdout(appauth_settings, azure_emulator):
    out, err = run("token", "--resource", ARM, "--raw")
    token = out.strip()
    assert "\n" not in token
    assert azure_emulator.issuer.verify(token)["aud"].rstrip("/") == ARM.rstrip("/")
    assert "Token for" in err


def test_token_with_a_tenant(appauth_settings, azure_emulator):
    out, _ = run("token", "--resource", ARM, "--tenant", azure_emulator.tenant_id, "--raw")
    assert unverified_claims(out.strip())["tid"] == azure_emulator.tenant_id


def test_secret_shows_metadata_not_the_value(appauth_settings, azure_emulator, vault_secrets):
    out, err = run("secret", "db-password")
    assert "Secret 'db-password'" in out
    assert f"version: {azure_emulator.vault.versions('db-password')[-1].version}" in out
    assert "use --reveal" in out
    assert vault_secrets["db-password"] not in out + err


def test_secret_reveal(appauth_settings, vault_secrets):
    out, err = run("secret", "db-password", "--reveal")
    assert out == vault_secrets["db-password"] + "\n"
    assert "Secret 'db-password'" in err


def test_missing_secret_fails_without_traceback(appauth_settings, vault_secrets):
    _, err = fails("secret", "no-such-secret")
    assert "[fail]" in err and "no-such-secret" in err


def test_check_tries_everything(appauth_settings, azure_emulator, vault_secrets):
    out, _ = run("check")
    assert "[ok]   token for https://vault.azure.net" in out
    assert "template secret 'public-banner' is readable" in out


def test_check_fails_on_any_failure(appauth_settings, azure_emulator, vault_secrets):
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "TEMPLATE_SECRETS": ["public-banner", "gone"]}
    out, err = fails("check")
    assert "template secret 'public-banner' is readable" in out
    assert "[fail] template secret 'gone'" in err


def test_check_reports_configuration_errors(settings):
    settings.APPAUTH = {"KEYVAULT_URL": "https://myvault.vault.azure.net/"}
    _, err = fails("check")
    assert "appauth.E004" in err and "Did you mean" in err


def test_broken_configuration_is_a_message_not_a_traceback(settings):
    settings.APPAUTH = {"SECRET_CACHE_SECONDS": -1}
    with pytest.raises(CommandError, match=r"APPAUTH\['SECRET_CACHE_SECONDS'\]"):
        call_command("appauth", "whoami", stdout=io.StringIO(), stderr=io.StringIO())


def test_colour(appauth_settings):
    out, _ = run("whoami", color=True)
    assert "\x1b[" in out
