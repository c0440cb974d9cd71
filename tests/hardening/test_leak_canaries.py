"""Leak canaries: AppKeys, client secrets, identity headers, vault values and tokens are planted, every surface a
user or an operator sees is driven to show them, and none may: exception text and tracebacks, reprs, the
DEBUG log of appauth, azure and msal (scanned by the ``canaries`` fixture), ``manage.py appauth`` and
``flask appauth`` output, and Django's technical 500 page with ``DEBUG = True``.

The fixture and the suite-wide safety net live in ``tests/canaries.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import stat
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

import tests.django.conftest  # noqa: F401 - configures Django (as collecting tests/django does)
from appauth_core import (
    AppAuthError,
    AzureServiceTokenProvider,
    AzureServiceTokenProviderError,
    ConnectionStringError,
    KeyVaultError,
    KeyVaultSecrets,
    SecretAccessDeniedError,
    SecretDisabledError,
)
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache
from tests.canaries import Canaries
from tests.hardening.support import closed_port

VAULT = "https://vault.azure.net"
STORAGE = "https://storage.azure.com"
GET = "keyvault.local.get_secret"


def _raises(call: Callable[[], Any], kind: type[BaseException] = AppAuthError) -> BaseException:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


def _secret_name() -> str:
    return f"canary-{uuid.uuid4().hex[:12]}"


def _service_principal(emulator: AzureEmulator, app_key: str) -> str:
    return f"RunAs=App;AppId={emulator.app.app_id};TenantId={emulator.tenant_id};AppKey={app_key}"


@pytest.fixture
def planted(canaries: Canaries, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> Canaries:
    """The emulator's own credentials are canaries too: its client secret and managed-identity headers."""
    for secret in azure_emulator.app.secrets:
        canaries.add(secret, "emulator client secret")
    canaries.add(azure_emulator.managed_identity.identity_header, "IDENTITY_HEADER")
    canaries.add(azure_emulator.managed_identity.service_fabric_secret, "Service Fabric secret")
    return canaries


# --- the provider ------------------------------------------------------------------------------------------


def test_a_wrong_app_key(planted: Canaries, azure_emulator: AzureEmulator) -> None:
    app_key = planted.new("app-key")
    provider = AzureServiceTokenProvider(
        _service_principal(azure_emulator, app_key), azure_emulator.authority, cache=TokenCache()
    )
    planted.check(repr(provider), "repr(provider)")
    error = _raises(lambda: provider.get_access_token(VAULT), AzureServiceTokenProviderError)
    assert "AADSTS7000215" in str(error)
    planted.check_error(error)
    planted.check_error(_raises(lambda: provider.get_token(f"{VAULT}/.default")))
    planted.check_error(_raises(lambda: asyncio.run(provider.get_access_token_async(VAULT))))
    assert "<<Redacted>>" in str(error)  # the connection string is shown, without its AppKey


@pytest.mark.parametrize(
    "template",
    [
        "RunAs=App;AppId=a;TenantId=t;AppKey={key};AppKey={key}",  # a repeated key
        "RunAs=App;AppId=a;TenantId=t;AppKey={key};Typo=1",  # an unknown key
        "RunAs=App;AppId=a;TenantId=t;AppKey='{key}",  # an unterminated quote
        "RunAs=Developer;DeveloperTool=AzureCli;AppKey={key}",  # a key the method does not use
        "RunAs=App;AppId=a;AppKey={key}",  # TenantId missing
    ],
)
def test_a_malformed_connection_string(planted: Canaries, template: str) -> None:
    text = template.format(key=planted.new("app-key"))
    planted.check_error(_raises(lambda: AzureServiceTokenProvider(text), ConnectionStringError))


def test_a_token_that_is_handed_out_is_never_logged(
    planted: Canaries, azure_emulator: AzureEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    provider = AzureServiceTokenProvider(
        _service_principal(azure_emulator, azure_emulator.app.secrets[0]), azure_emulator.authority, cache=TokenCache()
    )
    token = planted.add(provider.get_access_token(STORAGE), "access token")
    result = provider.get_authentication_result(STORAGE)
    for shown in (repr(result), str(result), repr(provider.principal_used), repr(provider)):
        planted.check(shown, "a repr of what the provider returned")
    assert result.access_token == token
    # The log (scanned at teardown) has msal's and urllib3's DEBUG lines of this sign-in: the scan is not vacuous.
    assert {"msal", "urllib3"} <= {record.name.split(".")[0] for record in caplog.records}


def test_a_managed_identity_endpoint_that_echoes_its_header(planted: Canaries, azure_emulator: AzureEmulator) -> None:
    header = planted.new("identity-header")
    environ = {**azure_emulator.app_service_env(), "IDENTITY_HEADER": header}
    echo = {"statusCode": 401, "message": f"The X-IDENTITY-HEADER {header} does not match."}
    azure_emulator.faults.inject("mi.app_service", status=401, body=echo, headers={"X-Echo": header}, times=3)
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=environ)
    error = _raises(lambda: provider.get_access_token(VAULT), AzureServiceTokenProviderError)
    assert "X-IDENTITY-HEADER" in str(error)
    planted.check_error(error)


def _fake_az(folder: Path, stdout: str, stderr: str, code: int) -> None:
    script = folder / "az"
    script.write_text(f"#!/bin/sh\n/bin/cat <<'EOF'\n{stdout}\nEOF\n/bin/cat >&2 <<'EOF'\n{stderr}\nEOF\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("how", ["bad expiry", "error with a token in it"])
def test_the_default_chain_failing_everywhere(
    planted: Canaries, azure_emulator: AzureEmulator, tmp_path: Path, how: str
) -> None:
    """No managed identity (IMDS does not answer), no Visual Studio, and an Azure CLI that prints a token
    where it should not: one error naming every method, and none of their secrets. (A managed identity the
    environment announces ends the chain when it fails: its echoed header is the test above.)"""
    jwt = planted.add(f"eyJ0eXAiOiJKV1QifQ.{planted.new('cli-claims')}.{planted.new('cli-signature')}", "az token")
    if how == "bad expiry":
        _fake_az(tmp_path, f'{{"accessToken": "{jwt}", "expiresOn": "soon", "tokenType": "Bearer"}}', "", 0)
    else:
        _fake_az(tmp_path, "", f"ERROR: AADSTS50076: refused {jwt} (access_token={jwt})", 1)
    environ = {
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{closed_port()}",
        "PATH": str(tmp_path),
        "HOME": str(tmp_path),
        "LOCALAPPDATA": str(tmp_path),
    }
    provider = AzureServiceTokenProvider(cache=TokenCache(), environ=environ)
    error = _raises(lambda: provider.get_access_token(VAULT), AzureServiceTokenProviderError)
    reasons = {attempt.method: attempt.reason for attempt in error.attempts}
    assert "Unable to connect to the Instance Metadata Service" in reasons["Managed identity (IMDS)"]
    expected = (
        "not a token (expiresOn" if how == "bad expiry" else "could not get a token (exit code 1): ERROR: AADSTS50076"
    )
    assert expected in reasons["Azure CLI"], reasons["Azure CLI"]
    planted.check_error(error)
    planted.check(repr(provider.skipped_methods), "the skipped methods")


# --- Key Vault secrets -------------------------------------------------------------------------------------


@pytest.fixture
def vault_value(planted: Canaries, azure_emulator: AzureEmulator) -> tuple[str, str]:
    name = _secret_name()
    value = planted.new("vault-value")
    azure_emulator.vault.set_secret(name, value)
    return name, value


def _provider(emulator: AzureEmulator) -> AzureServiceTokenProvider:
    return AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=emulator.app_service_env())


def _secrets(emulator: AzureEmulator, provider: AzureServiceTokenProvider | None = None, **kwargs: Any):
    provider = provider or _provider(emulator)
    return KeyVaultSecrets(emulator.vault.url, provider, client_options={"retry_total": 0}, **kwargs)


def test_reading_a_secret_logs_neither_the_value_nor_the_token(
    planted: Canaries, azure_emulator: AzureEmulator, vault_value: tuple[str, str]
) -> None:
    name, value = vault_value
    provider = _provider(azure_emulator)
    secrets = _secrets(azure_emulator, provider)
    assert secrets.get(name) == value
    planted.add(provider.get_access_token(VAULT), "Key Vault token")
    for shown in (repr(secrets), repr(secrets.describe(name)), str(secrets.describe(name))):
        planted.check(shown, "a repr of KeyVaultSecrets or its metadata")
    assert secrets.resolve_all({"password": f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/{name})"})


def test_serving_a_stale_value_through_an_outage(
    planted: Canaries, azure_emulator: AzureEmulator, vault_value: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    name, value = vault_value
    now = [1_900_000_000.0]
    secrets = _secrets(azure_emulator, cache_seconds=60, clock=lambda: now[0])
    assert secrets.get(name) == value
    azure_emulator.faults.inject(GET, status=503, body={"error": {"code": "Down", "message": "down"}}, times=5)
    now[0] += 120
    assert secrets.get(name) == value
    assert any("serving the value read before" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ({"status": 403, "body": {"error": {"code": "Forbidden", "message": "no", "innererror": {"code": "x"}}}},
         SecretAccessDeniedError),
        ({"status": 403, "body": {"error": {"code": "Forbidden", "message": "disabled",
                                            "innererror": {"code": "SecretDisabled"}}}}, SecretDisabledError),
        ({"status": 200, "body": ["not", "a", "secret"]}, KeyVaultError),
        ({"status": 200, "garbage": True}, KeyVaultError),
        ({"status": 500, "body": {"error": {"code": "Internal", "message": "boom"}}}, KeyVaultError),
    ],
)  # fmt: skip
def test_a_refused_re_read(
    planted: Canaries, azure_emulator: AzureEmulator, vault_value: tuple[str, str], fault: dict[str, Any], kind: type
) -> None:
    """The value was read once (it is in the cache); ``refresh`` then fails in each way."""
    name, value = vault_value
    secrets = _secrets(azure_emulator)
    assert secrets.get(name) == value
    azure_emulator.faults.inject(GET, times=3, **fault)
    error = _raises(lambda: secrets.refresh(name), kind)
    planted.check_error(error)
    planted.check(repr(secrets), "repr(KeyVaultSecrets)")


def test_a_reference_that_cannot_be_resolved(planted: Canaries, azure_emulator: AzureEmulator) -> None:
    """The malformed reference's own text is shown (it is configuration, not a secret); the value of a
    reference resolved alongside it is not."""
    good, value = _secret_name(), planted.new("vault-value")
    azure_emulator.vault.set_secret(good, value)
    vault = azure_emulator.vault.url
    secrets = _secrets(azure_emulator)
    settings = {
        "a": f"@Microsoft.KeyVault(SecretUri={vault}secrets/{good})",
        "b": f"@Microsoft.KeyVault(SecretUri={vault}secrets/{_secret_name()})",  # not found
    }
    error = _raises(lambda: secrets.resolve_all(settings), KeyVaultError)
    planted.check_error(error)


# --- command-line output -----------------------------------------------------------------------------------


def _manage(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.suppress(CommandError):  # exit code 1: the output is what is looked at
        call_command("appauth", *args, stdout=out, stderr=err, no_color=True)
    return out.getvalue() + err.getvalue()


def test_manage_py_appauth(planted: Canaries, django_appauth: Any, vault_value: tuple[str, str]) -> None:
    name, value = vault_value
    django_appauth.APPAUTH = {**django_appauth.APPAUTH, "TEMPLATE_SECRETS": [name]}
    output = "\n".join(
        [_manage("secret", name), _manage("check"), _manage("whoami"), _manage("token", "--resource", STORAGE)]
    )
    assert "value: hidden (use --reveal to print it)" in output
    assert "token: sha256:" in output
    from appauth_django.conf import get_services

    planted.add(get_services().provider.get_access_token(STORAGE), "storage token")  # the one `token` got
    planted.check(output, "manage.py appauth output")
    assert value in _manage("secret", name, "--reveal")  # the canary is live: --reveal does print it


def test_manage_py_appauth_with_a_wrong_app_key(planted: Canaries, django_appauth: Any, azure_emulator) -> None:
    django_appauth.APPAUTH = {
        **django_appauth.APPAUTH,
        "CONNECTION_STRING": _service_principal(azure_emulator, planted.new("app-key")),
        "AZURE_AD_INSTANCE": azure_emulator.authority,
    }
    output = "\n".join([_manage("whoami"), _manage("check"), _manage("token", "--resource", STORAGE)])
    assert "AADSTS7000215" in output and "Traceback" not in output
    planted.check(output, "manage.py appauth output")


def test_flask_appauth(planted: Canaries, azure_emulator: AzureEmulator, vault_value: tuple[str, str]) -> None:
    from flask import Flask

    from appauth_flask import AppAuth

    name, value = vault_value
    app = Flask(f"canary_{uuid.uuid4().hex[:8]}")
    app.config.update(TESTING=True, APPAUTH_KEY_VAULT_URL=azure_emulator.vault.url, APPAUTH_TEMPLATE_SECRETS=[name])
    AppAuth(app)
    runner = app.test_cli_runner()
    results = [runner.invoke(args=["appauth", *args]) for args in
               (["secret", name], ["check"], ["whoami"], ["token", "--resource", STORAGE])]  # fmt: skip
    output = "\n".join(result.output for result in results)
    assert all(result.exit_code == 0 for result in results), output
    assert "value: hidden (use --reveal to print it)" in output
    with app.app_context():
        planted.add(app.extensions["appauth"].provider.get_access_token(STORAGE), "storage token")
    planted.check(output, "flask appauth output")
    assert value in runner.invoke(args=["appauth", "secret", name, "--reveal"]).output


def test_flask_logs_a_failed_read_without_the_app_key(planted: Canaries, azure_emulator: AzureEmulator) -> None:
    """An unhandled error in a view is logged with its traceback (Flask's own error handler)."""
    from flask import Flask, g

    from appauth_flask import AppAuth

    app = Flask(f"canary_{uuid.uuid4().hex[:8]}")
    app.config.update(
        APPAUTH_KEY_VAULT_URL=azure_emulator.vault.url,
        APPAUTH_CONNECTION_STRING=_service_principal(azure_emulator, planted.new("app-key")),
        APPAUTH_AZURE_AD_INSTANCE=azure_emulator.authority,
    )
    AppAuth(app)

    @app.get("/")
    def index() -> str:
        return g.appauth.secret("anything")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    app.logger.addHandler(handler)
    try:
        response = app.test_client().get("/")
    finally:
        app.logger.removeHandler(handler)
    assert response.status_code == 500
    assert "AADSTS7000215" in stream.getvalue()
    planted.check(stream.getvalue() + response.get_data(as_text=True), "Flask's error log and page")


# --- Django's technical 500 page (DEBUG = True) ------------------------------------------------------------


@pytest.fixture
def debug_site(django_appauth: Any) -> Any:
    django_appauth.DEBUG = True
    django_appauth.ROOT_URLCONF = "tests.hardening.django_views"
    return django_appauth


def _error_page(path: str) -> str:
    client = Client(raise_request_exception=False)
    response = client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Traceback" in page or "traceback" in page
    return page


def test_debug_page_after_a_view_read_a_secret(
    planted: Canaries, debug_site: Any, vault_value: tuple[str, str]
) -> None:
    name, _ = vault_value
    page = _error_page(f"/read-then-fail?name={name}")
    assert "DatabaseRefused" in page
    planted.check(page, "the technical 500 page")
    from appauth_django.conf import get_services

    planted.add(get_services().provider.get_access_token(VAULT), "Key Vault token")
    planted.check(page, "the technical 500 page")


@pytest.mark.parametrize("failure", ["token endpoint refuses the AppKey", "vault refuses the token"])
def test_debug_page_when_the_read_fails_inside_appauth(
    planted: Canaries, debug_site: Any, azure_emulator: AzureEmulator, vault_value: tuple[str, str], failure: str
) -> None:
    name, _ = vault_value
    if failure.startswith("token"):
        debug_site.APPAUTH = {
            **debug_site.APPAUTH,
            "CONNECTION_STRING": _service_principal(azure_emulator, planted.new("app-key")),
            "AZURE_AD_INSTANCE": azure_emulator.authority,
        }
    else:
        # Twice: a single 401 is met by renewing the token and reading again.
        azure_emulator.faults.inject(
            GET, status=401, body={"error": {"code": "Unauthorized", "message": "no"}}, times=2
        )
    page = _error_page(f"/fail-inside-appauth?name={name}")
    planted.check(page, "the technical 500 page")


def test_debug_page_with_a_settings_time_secret_in_a_local(
    planted: Canaries, debug_site: Any, azure_emulator: AzureEmulator, vault_value: tuple[str, str]
) -> None:
    from appauth_django import resolution

    name, value = vault_value
    debug_site.SENTRY_DSN = f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/{name})"
    resolution.resolve_settings_references()
    from django.conf import settings

    assert value == settings.SENTRY_DSN
    page = _error_page("/settings-value-in-a-local")
    assert "dsn" in page  # the local is listed, its value is not
    planted.check(page, "the technical 500 page")


def test_debug_page_for_a_template_secret_that_is_not_allowed(
    planted: Canaries, debug_site: Any, azure_emulator: AzureEmulator, vault_value: tuple[str, str]
) -> None:
    name, _ = vault_value
    page = _error_page(f"/disallowed-template-secret?name={name}")
    assert "TemplateSecretNotAllowedError" in page
    planted.check(page, "the technical 500 page")
    assert azure_emulator.counters[GET] == 0  # not even fetched


# --- the safety net itself ---------------------------------------------------------------------------------


@pytest.fixture
def repo_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tests.canaries`` must be importable by the pytester subprocess."""
    root = str(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))


def test_the_safety_net_catches_a_leak(pytester: pytest.Pytester, repo_on_path: None) -> None:
    """A test that prints a canary, or logs one, fails even though its own assertions pass."""
    pytester.makeconftest('pytest_plugins = ["tests.canaries"]')
    pytester.makepyfile(
        """
        import logging

        def test_prints(canaries):
            print("leaking", canaries.new("printed"))

        def test_logs(canaries):
            logging.getLogger("appauth_core").debug("leaking %s", canaries.new("logged"))

        def test_clean(canaries):
            canaries.new("kept")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    # test_logs fails twice: its captured log (safety net) and the fixture's own scan at teardown.
    result.assert_outcomes(passed=1, failed=2, errors=1)
    output = result.stdout.str()
    assert "leak canary: printed found in 'Captured stdout call'" in output
    assert "canary ['logged'] leaked into the log (DEBUG)" in output


def test_check_error_looks_at_the_whole_chain(canaries: Canaries) -> None:
    secret = canaries.new("chained")
    try:
        try:
            raise ValueError(f"inner {secret}")
        except ValueError as inner:
            raise AppAuthError("outer, clean") from inner
    except AppAuthError as error:
        outer = error
    with pytest.raises(AssertionError, match="traceback"):
        canaries.check_error(outer)
    assert canaries.leaks("".join(traceback.format_exception(outer))) == ["chained"]
    assert canaries.leaks(f"cut short: {secret[:30]}") == ["chained"]  # a truncated message still leaks
