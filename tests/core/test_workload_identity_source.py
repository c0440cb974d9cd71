"""WorkloadIdentitySource against the emulator's Entra ID, with federated tokens it mints as an AKS
cluster's OIDC issuer would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appauth_core.errors import AzureServiceTokenProviderError, SourceUnavailableError
from appauth_core.testing import AzureEmulator
from appauth_core.tokens._cache import TokenCache
from appauth_core.tokens._provider import AzureServiceTokenProvider
from appauth_core.tokens.sources._base import TokenRequest, TokenSource
from appauth_core.tokens.sources._workload_identity import FederatedTokenFile, WorkloadIdentitySource

SUBJECT = "system:serviceaccount:shop:web"
VAULT = "https://vault.azure.net"
STORAGE = "https://storage.azure.com"


def _write_atomically(path: Path, text: str) -> None:
    """As kubelet rotates a projected token: a new file swapped in (new inode)."""
    partial = path.with_name(path.name + ".new")
    partial.write_text(text)
    os.replace(partial, path)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "azure-identity-token"


def _source(emulator: AzureEmulator, client_id: str, token_file: Path) -> WorkloadIdentitySource:
    return WorkloadIdentitySource(client_id, emulator.tenant_id, token_file, authority_host=emulator.authority)


def _aks_environment(emulator: AzureEmulator, client_id: str, token_file: Path) -> dict[str, str]:
    """What the AKS workload identity webhook injects into a pod."""
    return {
        "AZURE_CLIENT_ID": client_id,
        "AZURE_TENANT_ID": emulator.tenant_id,
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "AZURE_AUTHORITY_HOST": emulator.authority.rstrip("/"),  # AKS sets it without the slash
    }


def test_gets_a_token_for_the_federated_app(azure_emulator, azure_emulator_env, token_file):
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    token_file.write_text(azure_emulator.issue_federated_token(SUBJECT) + "\n")
    source = _source(azure_emulator, app.app_id, token_file)
    assert isinstance(source, TokenSource)
    assert source.name == "Workload identity"
    assert source.cache_identity == (
        f"workload:{app.app_id.lower()}:{azure_emulator.tenant_id}:{token_file};authority={azure_emulator.authority}"
    )
    token = source.get_token(TokenRequest(VAULT))
    claims = azure_emulator.issuer.verify(token.access_token)
    assert claims["appid"] == app.app_id
    assert claims["appidacr"] == "2"  # signed in with an assertion, not a secret
    assert claims["aud"] == VAULT
    assert abs(token.expires_on - claims["exp"]) < 60
    assert token.token_type == "Bearer"


def test_from_environment(azure_emulator, azure_emulator_env, token_file):
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    token_file.write_text(azure_emulator.issue_federated_token(SUBJECT))
    source = WorkloadIdentitySource.from_environment(_aks_environment(azure_emulator, app.app_id, token_file))
    assert (source.client_id, source.tenant_id) == (app.app_id, azure_emulator.tenant_id)
    assert source.authority_host == azure_emulator.authority
    # The request's default authority host is the public cloud; the environment's must win.
    claims = azure_emulator.issuer.verify(source.get_token(TokenRequest(VAULT)).access_token)
    assert claims["appid"] == app.app_id


def test_from_environment_names_what_is_missing():
    with pytest.raises(SourceUnavailableError, match="AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE"):
        WorkloadIdentitySource.from_environment({"AZURE_CLIENT_ID": "x"})


def test_unknown_subject_is_aadsts70021(azure_emulator, azure_emulator_env, token_file):
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    federated = azure_emulator.issue_federated_token("system:serviceaccount:shop:intruder")
    token_file.write_text(federated)
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        _source(azure_emulator, app.app_id, token_file).get_token(TokenRequest(VAULT))
    message = str(caught.value)
    assert "AADSTS70021" in message and "system:serviceaccount:shop:intruder" in message
    assert "az identity federated-credential create" in message
    assert federated not in message  # the assertion itself is never shown
    assert (caught.value.method, caught.value.resource) == ("Workload identity", VAULT)
    assert caught.value.authority == azure_emulator.authority_with_tenant


def test_rotated_token_file_is_read_again(azure_emulator, azure_emulator_env, token_file):
    """The file is re-read when kubelet swaps it, even within the five-minute re-read interval: a token
    for a subject the app does not trust now fails, and a good one works again."""
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    _write_atomically(token_file, azure_emulator.issue_federated_token(SUBJECT))
    source = _source(azure_emulator, app.app_id, token_file)
    source.get_token(TokenRequest(VAULT))
    assert source.token_file.reads == 1

    _write_atomically(token_file, azure_emulator.issue_federated_token("system:serviceaccount:other:job"))
    with pytest.raises(AzureServiceTokenProviderError, match="AADSTS70021"):
        source.get_token(TokenRequest(STORAGE))  # another resource: msal's cache cannot answer
    assert source.token_file.reads == 2

    _write_atomically(token_file, azure_emulator.issue_federated_token(SUBJECT))
    token = source.get_token(TokenRequest(STORAGE))
    assert azure_emulator.issuer.verify(token.access_token)["aud"] == STORAGE
    assert source.token_file.reads == 3


def test_token_file_is_cached_until_it_changes_or_ages(tmp_path):
    path = tmp_path / "token"
    path.write_text("first")
    now = [0.0]
    tokens = FederatedTokenFile(path, max_age=300)
    tokens._clock = lambda: now[0]
    assert (tokens(), tokens()) == ("first", "first")
    assert tokens.reads == 1
    now[0] = 301.0  # aged: read again even though nothing changed
    assert tokens() == "first"
    assert tokens.reads == 2
    _write_atomically(path, "second")
    assert tokens() == "second"
    assert tokens.reads == 3


def test_missing_token_file(azure_emulator, azure_emulator_env, token_file):
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    with pytest.raises(AzureServiceTokenProviderError, match="Cannot read the federated token file") as caught:
        _source(azure_emulator, app.app_id, token_file).get_token(TokenRequest(VAULT))
    assert "azure.workload.identity/use" in str(caught.value)
    assert azure_emulator.counters["entra.token"] == 0


def test_empty_token_file(azure_emulator, azure_emulator_env, token_file):
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    token_file.write_text("\n")
    with pytest.raises(AzureServiceTokenProviderError, match="is empty"):
        _source(azure_emulator, app.app_id, token_file).get_token(TokenRequest(VAULT))


def test_unknown_tenant_is_a_clear_error(azure_emulator, azure_emulator_env, token_file):
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    token_file.write_text(azure_emulator.issue_federated_token(SUBJECT))
    source = WorkloadIdentitySource(
        app.app_id, "00000000-0000-0000-0000-00000000dead", token_file, authority_host=azure_emulator.authority
    )
    with pytest.raises(AzureServiceTokenProviderError, match="AZURE_TENANT_ID"):
        source.get_token(TokenRequest(VAULT))


def test_a_reply_that_is_not_json_is_a_clear_error(azure_emulator, azure_emulator_env, token_file):
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    federated = azure_emulator.issue_federated_token(SUBJECT)
    token_file.write_text(federated)
    azure_emulator.faults.inject("entra.token", garbage=True)
    with pytest.raises(AzureServiceTokenProviderError, match="not a token reply") as caught:
        _source(azure_emulator, app.app_id, token_file).get_token(TokenRequest(VAULT))
    assert str(caught.value).startswith(f"The token endpoint of {azure_emulator.authority_with_tenant} answered")
    assert federated not in str(caught.value)


def test_invalid_tenant_and_resource_are_refused_before_any_request(azure_emulator, token_file):
    source = _source(azure_emulator, "some-app", token_file)
    with pytest.raises(AzureServiceTokenProviderError, match="not a valid tenant"):
        source.get_token(TokenRequest(VAULT, tenant_id="bad tenant/../x"))
    with pytest.raises(AzureServiceTokenProviderError, match="not a valid resource"):
        source.get_token(TokenRequest("https://vault.azure.net/?a=b&c"))
    assert azure_emulator.counters["entra"] == 0


def test_constructor_needs_every_part(token_file):
    with pytest.raises(ValueError, match="client id"):
        WorkloadIdentitySource("", "tenant", token_file)


def test_one_msal_app_per_authority_and_every_call_reaches_entra(azure_emulator, azure_emulator_env, token_file):
    """As for the other msal sources: the provider's cache is the only cache. It calls the source on a miss
    or for force_refresh, and then a token msal had kept would be the wrong answer."""
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    token_file.write_text(azure_emulator.issue_federated_token(SUBJECT))
    source = _source(azure_emulator, app.app_id, token_file)
    first = source.get_token(TokenRequest(VAULT))
    second = source.get_token(TokenRequest(VAULT))
    assert first.access_token != second.access_token
    assert azure_emulator.counters["entra.discovery"] == 1  # the msal app (and its discovery) is reused
    assert azure_emulator.counters["entra.token"] == 2


def test_provider_force_refresh_reaches_entra(azure_emulator, azure_emulator_env, token_file):
    """End to end: RunAs=App in an AKS pod is workload identity; the provider's cache answers a repeat, and
    force_refresh gets a new token from Entra ID instead of one msal kept."""
    app = azure_emulator.register_app(federated_subject=SUBJECT)
    token_file.write_text(azure_emulator.issue_federated_token(SUBJECT))
    environ = _aks_environment(azure_emulator, app.app_id, token_file)
    provider = AzureServiceTokenProvider("RunAs=App", environ=environ, cache=TokenCache())
    first = provider.get_access_token(VAULT)
    assert provider.get_access_token(VAULT) == first
    assert azure_emulator.counters["entra.token"] == 1
    refreshed = provider.get_access_token(VAULT, force_refresh=True)
    assert refreshed != first
    assert azure_emulator.counters["entra.token"] == 2
    claims = azure_emulator.issuer.verify(refreshed)
    assert (claims["appid"], claims["appidacr"]) == (app.app_id, "2")  # the app, signed in with an assertion
