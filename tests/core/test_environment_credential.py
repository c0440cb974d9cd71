"""The default chain honours azure-identity's ``EnvironmentCredential`` variables (issue 15, item 7), signing in
with real msal against the emulated Entra ID: ``AZURE_CLIENT_ID`` + ``AZURE_TENANT_ID`` + ``AZURE_CLIENT_SECRET``
(or ``AZURE_CLIENT_CERTIFICATE_PATH``, PEM or PFX, with ``AZURE_CLIENT_CERTIFICATE_PASSWORD``), at
``AZURE_AUTHORITY_HOST``. Placed after the managed identity: one the environment announces, or an IMDS that
answers, is never shadowed by them; a partial set is not taken for a service principal; no secret shows in
an error, a repr, a log line or a frame's locals.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from appauth_core import AzureServiceTokenProvider, AzureServiceTokenProviderError, SourceUnavailableError
from appauth_core.testing import AzureEmulator
from appauth_core.tokens._cache import TokenCache
from appauth_core.tokens.sources._imds_probe import reset_imds_probe_cache

from .secrets_support import free_port
from .test_certificate_source import make_certificate, pfx_bytes

VAULT = "https://vault.azure.net"
FAR_FUTURE = 4_102_444_800
SECRET_METHOD = "Service principal from the environment (AZURE_CLIENT_SECRET)"
CERTIFICATE_METHOD = "Service principal from the environment (AZURE_CLIENT_CERTIFICATE_PATH)"


@pytest.fixture(autouse=True)
def _fresh_imds_probe() -> object:
    reset_imds_probe_cache()
    yield
    reset_imds_probe_cache()


class Machine:
    """A process environment with no managed identity (IMDS on a closed loopback port) and a signed-in Azure
    CLI on PATH that writes a line to ``runs`` each time it runs: the other identity the app must not get
    when the service principal is meant."""

    def __init__(self, root: Path, emulator: AzureEmulator) -> None:
        self.bin, self.runs = root / "bin", root / "az-runs"
        self.bin.mkdir()
        self.developer_token = emulator.issue_token(VAULT, app=emulator.app).access_token
        payload = json.dumps({"accessToken": self.developer_token, "expires_on": FAR_FUTURE, "tokenType": "Bearer"})
        az = self.bin / "az"
        az.write_text(f"#!/bin/sh\necho run >> '{self.runs}'\necho '{payload}'\n")
        az.chmod(0o755)
        self.environ: dict[str, str] = {
            "HOME": str(root),
            "PATH": str(self.bin),
            "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{free_port()}",
        }

    def az_runs(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0

    def provider(self, **variables: str) -> AzureServiceTokenProvider:
        return AzureServiceTokenProvider(cache=TokenCache(), environ={**self.environ, **variables})


@pytest.fixture
def machine(tmp_path: Path, azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch) -> Machine:
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-ticket")  # the chain's last method: not here
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azure_emulator.ca_bundle_path))
    return Machine(tmp_path, azure_emulator)


def service_principal(emulator: AzureEmulator, secret: str) -> dict[str, str]:
    app = emulator.register_app(secret=secret)
    return {
        "AZURE_CLIENT_ID": app.app_id,
        "AZURE_TENANT_ID": emulator.tenant_id,
        "AZURE_CLIENT_SECRET": secret,
        "AZURE_AUTHORITY_HOST": emulator.authority,
    }


# --- a complete set signs in ---------------------------------------------------------------------------------


def test_a_client_secret_in_the_environment_signs_in_where_no_managed_identity_answers(
    machine: Machine, azure_emulator: AzureEmulator, canaries
) -> None:
    secret = canaries.new("azure-client-secret")
    variables = service_principal(azure_emulator, secret)
    provider = machine.provider(**variables)

    token = provider.get_access_token(VAULT)

    claims = azure_emulator.issuer.verify(token)
    assert (claims["appid"], claims["tid"], claims["aud"]) == (
        variables["AZURE_CLIENT_ID"],
        azure_emulator.tenant_id,
        VAULT,
    )
    assert provider.method_used == SECRET_METHOD
    assert [attempt.method for attempt in provider.skipped_methods] == ["Managed identity (IMDS)"]
    assert azure_emulator.counters["entra.token"] == 1  # through msal, at AZURE_AUTHORITY_HOST
    assert machine.az_runs() == 0
    canaries.check(repr(provider), "the provider's repr")


def test_a_bare_host_in_azure_authority_host_is_read_as_https(machine: Machine, azure_emulator: AzureEmulator) -> None:
    variables = service_principal(azure_emulator, "bare-host-secret")
    variables["AZURE_AUTHORITY_HOST"] = azure_emulator.authority.removeprefix("https://")
    provider = machine.provider(**variables)
    assert azure_emulator.issuer.verify(provider.get_access_token(VAULT))["appid"] == variables["AZURE_CLIENT_ID"]
    assert provider.method_used == SECRET_METHOD


def test_a_pem_certificate_file_signs_in(machine: Machine, azure_emulator: AzureEmulator, tmp_path: Path) -> None:
    certificate = make_certificate("env-pem")
    app = azure_emulator.register_app(certificate=certificate)
    pem = tmp_path / "app.pem"
    pem.write_bytes(certificate.private_key_pem + certificate.certificate_pem)
    provider = machine.provider(
        AZURE_CLIENT_ID=app.app_id,
        AZURE_TENANT_ID=azure_emulator.tenant_id,
        AZURE_CLIENT_CERTIFICATE_PATH=str(pem),
        AZURE_AUTHORITY_HOST=azure_emulator.authority,
    )
    assert azure_emulator.issuer.verify(provider.get_access_token(VAULT))["appid"] == app.app_id
    assert provider.method_used == CERTIFICATE_METHOD


def test_a_pfx_with_its_password_signs_in_and_a_renewed_file_is_used_without_a_restart(
    machine: Machine, azure_emulator: AzureEmulator, tmp_path: Path, canaries
) -> None:
    password = canaries.new("certificate-password")
    first, renewed = make_certificate("env-pfx"), make_certificate("env-pfx-renewed")
    app = azure_emulator.register_app(certificate=first)
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(pfx_bytes(first, password=password.encode()))
    provider = machine.provider(
        AZURE_CLIENT_ID=app.app_id,
        AZURE_TENANT_ID=azure_emulator.tenant_id,
        AZURE_CLIENT_CERTIFICATE_PATH=str(pfx),
        AZURE_CLIENT_CERTIFICATE_PASSWORD=password,
        AZURE_AUTHORITY_HOST=azure_emulator.authority,
    )
    assert azure_emulator.issuer.verify(provider.get_access_token(VAULT))["appid"] == app.app_id

    app.certificates[:] = [renewed.certificate]  # the registration now trusts only the renewed certificate
    pfx.write_bytes(pfx_bytes(renewed, password=password.encode()))
    assert azure_emulator.issuer.verify(provider.get_access_token(VAULT, force_refresh=True))["appid"] == app.app_id
    canaries.check(repr(provider), "the provider's repr")


def test_the_secret_wins_when_a_certificate_is_named_too(
    machine: Machine, azure_emulator: AzureEmulator, tmp_path: Path
) -> None:
    variables = service_principal(azure_emulator, "secret-over-certificate")
    provider = machine.provider(**variables, AZURE_CLIENT_CERTIFICATE_PATH=str(tmp_path / "not-read.pem"))
    provider.get_access_token(VAULT)
    assert provider.method_used == SECRET_METHOD


# --- it never shadows a managed identity ---------------------------------------------------------------------


def test_a_managed_identity_the_environment_announces_comes_first(
    machine: Machine, azure_emulator: AzureEmulator
) -> None:
    provider = machine.provider(
        **service_principal(azure_emulator, "shadowing-secret"), **azure_emulator.app_service_env()
    )
    token = provider.get_access_token(VAULT)
    assert provider.method_used == "Managed identity (App Service)"
    assert azure_emulator.issuer.verify(token)["appid"] == azure_emulator.directory.system_identity.client_id
    assert azure_emulator.counters["entra.token"] == 0


def test_a_failing_announced_managed_identity_is_not_traded_for_the_environments_service_principal(
    machine: Machine, azure_emulator: AzureEmulator
) -> None:
    provider = machine.provider(
        **service_principal(azure_emulator, "not-a-fallback"), **azure_emulator.app_service_env()
    )
    azure_emulator.faults.inject("mi.app_service", status=403, body={"error": "forbidden", "message": "refused"})
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        provider.get_access_token(VAULT)
    assert not isinstance(caught.value, SourceUnavailableError)
    assert [attempt.method for attempt in caught.value.attempts] == ["Managed identity (App Service)"]
    assert azure_emulator.counters["entra.token"] == 0


def test_an_imds_that_answers_comes_first(machine: Machine, azure_emulator: AzureEmulator) -> None:
    provider = machine.provider(**service_principal(azure_emulator, "imds-first"), **azure_emulator.imds_env())
    provider.get_access_token(VAULT)
    assert provider.method_used == "Managed identity (IMDS)"
    assert azure_emulator.counters["entra.token"] == 0


# --- a partial set is not a service principal ----------------------------------------------------------------


@pytest.mark.parametrize(
    "variables",
    [{"AZURE_CLIENT_ID": "client"}, {"AZURE_CLIENT_ID": "client", "AZURE_TENANT_ID": "tenant"}],
    ids=["AZURE_CLIENT_ID alone", "AZURE_CLIENT_ID and AZURE_TENANT_ID"],
)
def test_a_client_id_without_a_credential_moves_the_chain_on(
    machine: Machine, azure_emulator: AzureEmulator, variables: dict[str, str]
) -> None:
    client_id = azure_emulator.register_app(secret="unused-secret").app_id
    provider = machine.provider(**{**variables, "AZURE_CLIENT_ID": client_id})
    assert provider.get_access_token(VAULT) == machine.developer_token  # the next method: the Azure CLI
    skipped = {attempt.method: attempt.reason for attempt in provider.skipped_methods}
    assert "not a service principal" in skipped["Service principal from the environment"]
    assert "user-assigned managed identity" in skipped["Service principal from the environment"]
    assert azure_emulator.counters["entra"] == 0


@pytest.mark.parametrize("missing", ["AZURE_TENANT_ID", "AZURE_CLIENT_ID"])
def test_a_secret_without_its_app_or_tenant_fails_instead_of_using_another_identity(
    machine: Machine, azure_emulator: AzureEmulator, missing: str, canaries
) -> None:
    variables = service_principal(azure_emulator, canaries.new("half-configured-secret"))
    del variables[missing]
    provider = machine.provider(**variables)
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        provider.get_access_token(VAULT)
    assert not isinstance(caught.value, SourceUnavailableError)
    assert f"AZURE_CLIENT_SECRET is set but {missing} is not" in str(caught.value)
    assert machine.az_runs() == 0
    canaries.check_error(caught.value)


def test_an_http_authority_host_is_refused_naming_the_variable(machine: Machine, azure_emulator: AzureEmulator) -> None:
    variables = service_principal(azure_emulator, "plain-http-secret")
    variables["AZURE_AUTHORITY_HOST"] = "http://login.example"
    with pytest.raises(
        AzureServiceTokenProviderError, match=re.escape("AZURE_AUTHORITY_HOST 'http://login.example' is not an https")
    ):
        machine.provider(**variables).get_access_token(VAULT)
    assert machine.az_runs() == 0


# --- a refused credential, and no secret anywhere ------------------------------------------------------------


def test_a_wrong_secret_is_named_by_its_variable_and_never_shown(
    machine: Machine, azure_emulator: AzureEmulator, canaries
) -> None:
    variables = service_principal(azure_emulator, "the-registered-secret")
    variables["AZURE_CLIENT_SECRET"] = canaries.new("wrong-azure-client-secret")
    provider = machine.provider(**variables)
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        provider.get_access_token(VAULT)
    message = str(caught.value)
    assert "AADSTS7000215" in message
    assert "The AZURE_CLIENT_SECRET is wrong or expired" in message and "AppKey" not in message
    assert [attempt.method for attempt in caught.value.attempts][-1] == SECRET_METHOD
    assert machine.az_runs() == 0  # there but failing: the chain stops here
    canaries.check_error(caught.value)
    canaries.check(repr(provider), "the provider's repr")


def test_a_wrong_certificate_password_names_its_variable_and_never_shows_it(
    machine: Machine, azure_emulator: AzureEmulator, tmp_path: Path, canaries
) -> None:
    certificate = make_certificate("env-wrong-password")
    app = azure_emulator.register_app(certificate=certificate)
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(pfx_bytes(certificate, password=b"the-right-password"))
    provider = machine.provider(
        AZURE_CLIENT_ID=app.app_id,
        AZURE_TENANT_ID=azure_emulator.tenant_id,
        AZURE_CLIENT_CERTIFICATE_PATH=str(pfx),
        AZURE_CLIENT_CERTIFICATE_PASSWORD=canaries.new("wrong-certificate-password"),
        AZURE_AUTHORITY_HOST=azure_emulator.authority,
    )
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        provider.get_access_token(VAULT)
    message = str(caught.value)
    assert f"The certificate file {pfx} (AZURE_CLIENT_CERTIFICATE_PATH)" in message
    assert "set AZURE_CLIENT_CERTIFICATE_PASSWORD" in message and "APPAUTH_CERTIFICATE_STORE_PASSWORD" not in message
    assert azure_emulator.counters["entra.token"] == 0
    canaries.check_error(caught.value)
