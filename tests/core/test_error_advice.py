"""Advice chosen by what failed, in plain Python's words (issue 15, item 3): each test is a user's mistake,
made with ``AzureServiceTokenProvider`` and ``KeyVaultSecrets`` against the emulator, and asserts that the
error is one of appauth's, names the setting (constructor argument or environment variable) to change, and
gives the advice for that failure only (a TLS failure is never answered with a role to grant).

The Django and Flask spellings of the same mistakes are in tests/django/test_error_advice.py and
tests/flask/test_error_advice.py.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import certifi
import pytest

from appauth_core import (
    AppAuthError,
    AzureServiceTokenProvider,
    CaBundleError,
    ConnectionStringError,
    KeyVaultSecrets,
    KeyVaultUnavailableError,
    SecretAccessDeniedError,
    SecretNotFoundError,
    SourceUnavailableError,
    TokenEndpointError,
    VaultNotAllowedError,
)
from appauth_core._internal.http_sessions import new_session
from appauth_core.testing import AppRegistration, AzureEmulator
from appauth_core.tokens._cache import TokenCache
from appauth_core.tokens.sources._base import TokenRequest
from appauth_core.tokens.sources._integrated_windows import IntegratedWindowsSource
from appauth_core.tokens.sources._visual_studio import VisualStudioSource

from .secrets_support import free_port, provider, unique

VAULT = "https://vault.azure.net"
NO_RETRIES = {"retry_total": 0}  # the failures here are not transient: no need to wait for azure-core's retries
ROLE = "Key Vault Secrets User"
PLATFORM = {"linux": "Linux", "darwin": "macOS"}.get(sys.platform, sys.platform)


def secrets_in(emulator: AzureEmulator, **kwargs: object) -> KeyVaultSecrets:
    return KeyVaultSecrets(emulator.vault.url, provider(), client_options=NO_RETRIES, **kwargs)  # type: ignore[arg-type]


def service_principal(
    emulator: AzureEmulator, app_secret: str, **app: object
) -> tuple[AppRegistration, AzureServiceTokenProvider]:
    registered = emulator.register_app(secret=app_secret, **app)  # type: ignore[arg-type]
    return registered, AzureServiceTokenProvider(
        f"RunAs=App;AppId={registered.app_id};TenantId={emulator.tenant_id};AppKey={app_secret}",
        emulator.authority,
        cache=TokenCache(),
    )


def leave_no_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This process without a managed identity (IMDS on a closed loopback port), az, Visual Studio or a
    Kerberos ticket (for the Django and Flask spellings of the default chain's failure too)."""
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-ticket")


# --- the CA bundle a variable names ------------------------------------------------------------------------


def test_a_requests_ca_bundle_that_does_not_exist_is_named_with_what_to_do(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    missing = tmp_path / "moved" / "corporate-ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(missing))

    with pytest.raises(CaBundleError) as caught:
        secrets_in(azure_emulator).get(name)

    error = caught.value
    assert isinstance(error, AppAuthError)
    assert (error.setting, error.path) == ("REQUESTS_CA_BUNDLE", str(missing))
    message = str(error)
    assert f"REQUESTS_CA_BUNDLE names the CA bundle {str(missing)!r}, which does not exist" in message
    assert "Point REQUESTS_CA_BUNDLE at" in message and "or unset it" in message
    assert azure_emulator.vault.url.rstrip("/") in message  # where the request was going
    assert ROLE not in message
    assert azure_emulator.counters["keyvault"] == 0  # nothing was sent


def test_the_same_bundle_breaks_a_service_principal_sign_in_the_same_way(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, signing_in = service_principal(azure_emulator, "ca-bundle-app-secret")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "nowhere.pem"))  # requests reads it when the other is unset

    with pytest.raises(CaBundleError) as caught:
        signing_in.get_access_token(VAULT)

    assert caught.value.setting == "CURL_CA_BUNDLE"
    assert "CURL_CA_BUNDLE names the CA bundle" in str(caught.value)
    assert azure_emulator.counters["entra"] == 0


def test_an_entra_certificate_this_machine_does_not_trust_names_the_ca_bundle(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a proxy that inspects TLS (here: the emulator's own CA, which certifi lacks), a service principal's
    sign-in says that the sign-in endpoint's certificate is not trusted, which CA bundle is in use and what
    chose it, and what to do: not "check the network"."""
    _, signing_in = service_principal(azure_emulator, "untrusted-entra")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # the public CAs only: not the emulator's

    with pytest.raises(TokenEndpointError) as caught:
        signing_in.get_access_token(VAULT)

    message = str(caught.value)
    assert "its TLS certificate is not trusted (CERTIFICATE_VERIFY_FAILED: unable to get local issuer" in message
    assert f"The CA bundle in use is {certifi.where()} (REQUESTS_CA_BUNDLE)" in message
    assert "behind a proxy that inspects TLS, that proxy's CA" in message
    assert "Check the network" not in message


def test_a_bundle_that_holds_no_certificate_is_named(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_bundle = tmp_path / "ca.pem"
    not_a_bundle.write_text("this is not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(not_a_bundle))

    with pytest.raises(CaBundleError) as caught:
        secrets_in(azure_emulator).get(unique())

    assert caught.value.setting == "REQUESTS_CA_BUNDLE"
    assert "holds no CA certificate that can be read" in str(caught.value)


def test_a_bundle_a_client_was_told_to_trust_in_code_is_named_by_its_path(tmp_path: Path) -> None:
    wrong = tmp_path / "production-ca.pem"
    session = new_session(max_bytes=1024)
    with pytest.raises(CaBundleError) as caught:
        session.get(f"https://127.0.0.1:{free_port()}/", verify=str(wrong), timeout=5)
    assert (caught.value.setting, caught.value.path) == (None, str(wrong))
    assert f"The CA bundle this request was told to trust, {str(wrong)!r}, does not exist" in str(caught.value)


# --- Key Vault: advice by what failed ----------------------------------------------------------------------


def test_a_vault_certificate_this_machine_does_not_trust_is_a_tls_problem_not_a_role(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # the public CAs only: not the emulator's

    with pytest.raises(KeyVaultUnavailableError) as caught:
        secrets_in(azure_emulator).get(unique())

    error = caught.value
    message = str(error)
    assert error.setting == "REQUESTS_CA_BUNDLE"
    assert "its TLS certificate is not trusted" in message
    assert "unable to get local issuer certificate" in message  # what OpenSSL said
    assert f"The CA bundle in use is {certifi.where()} (REQUESTS_CA_BUNDLE)" in message
    assert ROLE not in message and "role" not in message


def test_nothing_listening_at_the_vault_url_is_unreachable_not_a_role(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    port = free_port()
    secrets = KeyVaultSecrets(f"https://127.0.0.1:{port}/", provider(), client_options=NO_RETRIES)

    with pytest.raises(KeyVaultUnavailableError) as caught:
        secrets.get("db-password")

    message = str(caught.value)
    assert caught.value.setting == "KeyVaultSecrets(vault_url=...)"
    assert f"nothing accepts connections at 127.0.0.1:{port} (connection refused)" in message
    assert "Check the host and port in KeyVaultSecrets(vault_url=...)" in message
    assert ROLE not in message


def test_a_vault_name_that_does_not_resolve_names_the_host_and_the_vault_suffix(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    secrets = KeyVaultSecrets(
        provider=provider(), vault_suffix="vault.invalid", allowed_hosts=["*.vault.invalid"], client_options=NO_RETRIES
    )
    with pytest.raises(KeyVaultUnavailableError) as caught:
        secrets.resolve("@Microsoft.KeyVault(VaultName=myvualt;SecretName=db-password)")

    message = str(caught.value)
    assert caught.value.setting == "KeyVaultSecrets(vault_suffix=...)"
    assert "the host name myvualt.vault.invalid does not resolve" in message
    assert "check the vault's name" in message
    assert "VaultName= references resolve under KeyVaultSecrets(vault_suffix=...) ('vault.invalid')" in message
    assert ROLE not in message


def test_a_403_names_the_role_and_the_identity_to_grant_it_to(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    app, denied = service_principal(azure_emulator, "list-only-app-secret", vault_permissions=frozenset({"list"}))
    name = unique()
    azure_emulator.vault.set_secret(name, "value")

    with pytest.raises(SecretAccessDeniedError) as caught:
        KeyVaultSecrets(azure_emulator.vault.url, denied).get(name)

    message = str(caught.value)
    assert "get permission" in message  # Key Vault's own words are kept
    assert f"Give the app {app.app_id} (object ID {app.object_id}) the '{ROLE}' role on the vault" in message
    assert f"--assignee {app.object_id}" in message
    assert "TLS" not in message and "REQUESTS_CA_BUNDLE" not in message


def test_a_404_says_the_secret_does_not_exist_and_gives_the_name_rules(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    with pytest.raises(SecretNotFoundError) as caught:
        secrets_in(azure_emulator).get("db-pasword")

    message = str(caught.value)
    assert f"secret 'db-pasword' in {azure_emulator.vault.url} was not found (404" in message
    assert "There is no secret by that name in this vault" in message
    assert "DB_PASSWORD is written db-password" in message  # the name rules, with the usual slip
    assert ROLE not in message


def test_a_vault_that_is_not_allowed_names_the_constructor_argument_and_ends_once(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    secrets = KeyVaultSecrets(azure_emulator.vault.url, provider())
    with pytest.raises(VaultNotAllowedError) as caught:
        secrets.resolve("@Microsoft.KeyVault(SecretUri=https://kv.contoso.example/secrets/db-password)")

    message = str(caught.value)
    assert caught.value.setting == "KeyVaultSecrets(allowed_hosts=...)"
    assert "add it to KeyVaultSecrets(allowed_hosts=...)" in message
    assert message.endswith(".") and not message.endswith("..")
    assert azure_emulator.counters["mi"] == 0


# --- the connection string and the default chain -----------------------------------------------------------


def test_a_quoted_connection_string_argument_is_not_told_about_windows_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConnectionStringError) as caught:
        AzureServiceTokenProvider('"RunAs=App"')
    message = str(caught.value)
    assert caught.value.setting == "AzureServiceTokenProvider(connection_string=...)"
    assert "Remove the surrounding quotes from AzureServiceTokenProvider(connection_string=...)" in message
    assert "set AzureServicesAuthConnectionString" not in message

    monkeypatch.setenv("AzureServicesAuthConnectionString", '"RunAs=App"')
    with pytest.raises(ConnectionStringError) as caught:
        AzureServiceTokenProvider()
    assert caught.value.setting == "AzureServicesAuthConnectionString"
    assert '`set AzureServicesAuthConnectionString="RunAs=App"` keeps the quotes' in str(caught.value)


def test_the_default_chain_lists_what_cannot_apply_on_this_os_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if sys.platform == "win32":
        pytest.skip("every method can apply on Windows")
    leave_no_identity(monkeypatch, tmp_path)
    chain = AzureServiceTokenProvider(cache=TokenCache())

    with caplog.at_level(logging.DEBUG, logger="appauth_core"), pytest.raises(AppAuthError) as caught:
        chain.get_access_token(VAULT)

    message = str(caught.value)
    assert f"  - Not on {PLATFORM}: Visual Studio (Windows only)" in message.splitlines()
    assert "Visual Studio 2017" not in message and "Tools > Options" not in message
    assert "Major (" not in message and "Minor (" not in message  # GSSAPI's codes are for the DEBUG log
    assert "No Kerberos ticket for the current user" in message
    assert "Minor (" in caplog.text
    # How to configure it, in plain Python's words:
    assert "AzureServiceTokenProvider(connection_string=...) or the AzureServicesAuthConnectionString" in message


def test_visual_studio_asked_for_by_name_off_windows_is_not_on_this_os(tmp_path: Path) -> None:
    if sys.platform == "win32":
        pytest.skip("Visual Studio runs here")
    with pytest.raises(SourceUnavailableError) as caught:
        VisualStudioSource(environ={"HOME": str(tmp_path)}).get_token(TokenRequest(VAULT))
    message = str(caught.value)
    assert f"Visual Studio is not on {PLATFORM}" in message
    assert "RunAs=Developer;DeveloperTool=AzureCli" in message
    assert "install Visual Studio" not in message and "Visual Studio 2017" not in message


def test_a_missing_kerberos_ticket_logs_the_gssapi_codes_at_debug_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-ticket")
    with caplog.at_level(logging.DEBUG, logger="appauth_core"), pytest.raises(SourceUnavailableError) as caught:
        IntegratedWindowsSource().get_token(TokenRequest(VAULT))
    message = str(caught.value)
    assert "run `kinit user@REALM`" in message
    assert "Major (" not in message and "Minor (" not in message
    assert "No Kerberos credentials available" in message  # GSSAPI's own words, without its numbers
    debug = [record for record in caplog.records if "Minor (" in record.getMessage()]
    assert debug and all(record.levelno == logging.DEBUG for record in debug)
