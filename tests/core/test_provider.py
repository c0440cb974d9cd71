"""AzureServiceTokenProvider end to end against the emulator: selection, caching, errors, SDK clients."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import threading
import uuid

import pytest
from azure.keyvault.secrets import SecretClient

from appauth_core import (
    AppAuthenticationResult,
    AzureServiceTokenProvider,
    AzureServiceTokenProviderError,
    ConnectionStringError,
)
from appauth_core.errors import InvalidRequestError
from appauth_core.tokens._cache import TokenCache

VAULT = "https://vault.azure.net"


def _secret_provider(emulator, cache=None, **kwargs) -> AzureServiceTokenProvider:
    connection_string = (
        f"RunAs=App;AppId={emulator.app.app_id};TenantId={emulator.tenant_id};AppKey={emulator.app.secrets[0]}"
    )
    return AzureServiceTokenProvider(
        connection_string, emulator.authority, cache=cache if cache is not None else TokenCache(), **kwargs
    )


def test_default_chain_uses_the_app_service_managed_identity(azure_emulator, azure_emulator_env):
    provider = AzureServiceTokenProvider(cache=TokenCache())
    result = provider.get_authentication_result(VAULT)
    assert isinstance(result, AppAuthenticationResult)
    claims = azure_emulator.issuer.verify(result.access_token)
    identity = azure_emulator.directory.system_identity
    assert claims["appid"] == identity.client_id
    assert claims["aud"] == VAULT
    assert result.expires_on.tzinfo is dt.timezone.utc
    assert result.expires_on.timestamp() == claims["exp"]
    assert result.resource == VAULT
    assert result.token_type == "Bearer"
    assert result.tenant_id == azure_emulator.tenant_id
    principal = provider.principal_used
    assert principal is not None
    assert (principal.type, principal.app_id, principal.tenant_id) == (
        "App",
        identity.client_id,
        azure_emulator.tenant_id,
    )
    assert principal.is_authenticated


def test_connection_string_from_the_environment_variable(azure_emulator, azure_emulator_env, monkeypatch):
    identity = azure_emulator.user_assigned_identity
    monkeypatch.setenv("AzureServicesAuthConnectionString", f"RunAs=App;AppId={identity.client_id}")
    token = AzureServiceTokenProvider(cache=TokenCache()).get_access_token(VAULT)
    assert azure_emulator.issuer.verify(token)["appid"] == identity.client_id


def test_client_secret_connection_string(azure_emulator, azure_emulator_env):
    provider = _secret_provider(azure_emulator)
    claims = azure_emulator.issuer.verify(provider.get_access_token("https://storage.azure.com"))
    assert claims["appid"] == azure_emulator.app.app_id
    assert claims["appidacr"] == "1"
    assert azure_emulator.app.secrets[0] not in repr(provider)
    assert "<<Redacted>>" in repr(provider)


def test_azure_ad_instance_from_the_connection_string(azure_emulator, azure_emulator_env):
    connection_string = (
        f"RunAs=App;AppId={azure_emulator.app.app_id};TenantId={azure_emulator.tenant_id};"
        f"AppKey={azure_emulator.app.secrets[0]};AzureAdInstance={azure_emulator.authority}"
    )
    token = AzureServiceTokenProvider(connection_string, cache=TokenCache()).get_access_token(VAULT)
    assert azure_emulator.issuer.verify(token)["appid"] == azure_emulator.app.app_id


def test_trailing_slash_shares_one_entry_and_yields_a_token_key_vault_accepts(azure_emulator, azure_emulator_env):
    provider = AzureServiceTokenProvider(cache=TokenCache())
    with_slash = provider.get_access_token(VAULT + "/")
    assert provider.get_access_token(VAULT) == with_slash
    assert azure_emulator.issuer.verify(with_slash)["aud"] == VAULT
    assert azure_emulator.counters["mi.app_service"] == 1


def test_cache_hit_makes_no_request_and_force_refresh_does(azure_emulator, azure_emulator_env):
    provider = _secret_provider(azure_emulator)
    first = provider.get_access_token(VAULT)
    assert provider.get_access_token(VAULT) == first
    assert azure_emulator.counters["entra.token"] == 1
    assert provider.get_access_token(VAULT, force_refresh=True) != first
    assert azure_emulator.counters["entra.token"] == 2


def test_providers_share_the_process_cache(azure_emulator, azure_emulator_env):
    cache = TokenCache()
    one, two = _secret_provider(azure_emulator, cache), _secret_provider(azure_emulator, cache)
    assert one.get_access_token(VAULT) == two.get_access_token(VAULT)
    assert azure_emulator.counters["entra.token"] == 1


def test_32_threads_and_32_tasks_on_a_cold_cache_make_one_upstream_request(azure_emulator, azure_emulator_env):
    azure_emulator.faults.inject("entra.token", delay=0.3)  # keep the single request in flight while all pile up
    provider = _secret_provider(azure_emulator)
    tokens: list[str] = []
    barrier = threading.Barrier(33)

    def call() -> None:
        barrier.wait(10)
        tokens.append(provider.get_access_token(VAULT))

    async def many_tasks() -> list[str]:
        return await asyncio.gather(*(provider.get_access_token_async(VAULT) for _ in range(32)))

    threads = [threading.Thread(target=call) for _ in range(32)]
    for thread in threads:
        thread.start()
    barrier.wait(10)
    task_tokens = asyncio.run(many_tasks())
    for thread in threads:
        thread.join(30)
    assert len(tokens) == 32
    assert set(tokens) == set(task_tokens) and len(set(tokens)) == 1
    assert azure_emulator.counters["entra.token"] == 1


def test_async_api(azure_emulator, azure_emulator_env):
    provider = _secret_provider(azure_emulator)

    async def both():
        token = await provider.get_access_token_async(VAULT)
        result = await provider.get_authentication_result_async(VAULT)
        return token, result

    token, result = asyncio.run(both())
    assert token == result.access_token
    assert azure_emulator.counters["entra.token"] == 1


def test_secret_client_takes_the_provider_as_credential(azure_emulator, azure_emulator_env):
    name = f"via-provider-{uuid.uuid4().hex[:6]}"
    azure_emulator.vault.set_secret(name, "it works")
    provider = AzureServiceTokenProvider(cache=TokenCache())  # managed identity via the env fixture
    client = SecretClient(azure_emulator.vault.url, provider, verify_challenge_resource=False)
    assert client.get_secret(name).value == "it works"


@pytest.mark.azurite
def test_blob_service_client_takes_the_provider_as_credential(azure_emulator, azure_emulator_env, azurite):
    from azure.storage.blob import BlobServiceClient

    provider = _secret_provider(azure_emulator)
    service = BlobServiceClient(azurite, credential=provider, connection_verify=str(azure_emulator.ca_path))
    container = service.create_container(f"appauth-{uuid.uuid4().hex[:10]}")
    container.upload_blob("hello.txt", b"hello from appauth")
    assert container.download_blob("hello.txt").readall() == b"hello from appauth"


def test_get_token_and_get_token_info(azure_emulator, azure_emulator_env):
    provider = _secret_provider(azure_emulator)
    access = provider.get_token(VAULT + "/.default")
    info = provider.get_token_info(VAULT + "/.default", options={"tenant_id": azure_emulator.tenant_id})
    assert azure_emulator.issuer.verify(access.token)["aud"] == VAULT
    info_claims = azure_emulator.issuer.verify(info.token)
    assert (info_claims["aud"], info_claims["tid"]) == (VAULT, azure_emulator.tenant_id)
    assert provider.get_token(VAULT + "/.default").token == access.token  # from cache
    assert info.refresh_on is not None and info.refresh_on < info.expires_on
    with pytest.raises(InvalidRequestError, match="exactly one scope"):
        provider.get_token(VAULT + "/.default", "https://storage.azure.com/.default")
    with pytest.raises(InvalidRequestError, match=r"/\.default"):
        provider.get_token("https://vault.azure.net/user_impersonation")


def test_key_vault_token_callback_takes_only_the_tenant_from_the_challenge(azure_emulator, azure_emulator_env):
    provider = _secret_provider(azure_emulator)
    token = provider.key_vault_token_callback(
        f"https://login.microsoftonline.com/{azure_emulator.tenant_id}", VAULT, ""
    )
    assert azure_emulator.issuer.verify(token)["tid"] == azure_emulator.tenant_id


def test_invalid_arguments_are_typed_errors(azure_emulator, azure_emulator_env):
    provider = _secret_provider(azure_emulator)
    for bad in ("", "   ", "https://vault.azure.net; rm -rf /", "https://test^"):
        with pytest.raises(InvalidRequestError):
            provider.get_access_token(bad)
    with pytest.raises(InvalidRequestError, match="tenant_id"):
        provider.get_access_token(VAULT, tenant_id="not a tenant")
    with pytest.raises(ConnectionStringError, match="https"):
        AzureServiceTokenProvider("RunAs=Developer;DeveloperTool=AzureCli", "http://login.example/")


def test_wrong_app_key_error_names_the_problem_and_never_the_secret(azure_emulator, azure_emulator_env):
    canary = "CANARY-not-the-real-secret-8Q~xyz"
    connection_string = (
        f"RunAs=App;AppId={azure_emulator.app.app_id};TenantId={azure_emulator.tenant_id};AppKey={canary}"
    )
    provider = AzureServiceTokenProvider(connection_string, azure_emulator.authority, cache=TokenCache())
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        provider.get_access_token(VAULT)
    text = str(raised.value)
    assert "AADSTS7000215" in text
    assert VAULT in text
    assert canary not in text and canary not in repr(raised.value) and canary not in repr(provider)


def test_every_method_failing_gives_one_error_naming_each(azure_emulator, azure_emulator_env, monkeypatch, tmp_path):
    # No managed identity (IMDS points at a closed loopback port), no Azure CLI, no Kerberos ticket; Visual
    # Studio is in the chain on Windows only.
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", dead)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-kerberos-ticket")
    provider = AzureServiceTokenProvider(cache=TokenCache())
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        provider.get_access_token(VAULT)
    error = raised.value
    assert [attempt.method.split(" (")[0] for attempt in error.attempts] == [
        "Managed identity",
        "Service principal from the environment",
        *(["Visual Studio"] if sys.platform == "win32" else []),
        "Azure CLI",
        "Integrated Windows authentication",
    ]
    text = str(error)
    assert VAULT in text
    for attempt in error.attempts:
        assert attempt.method in text and attempt.reason
    assert "az login" in text


def test_current_user_without_a_kerberos_ticket_says_to_kinit(azure_emulator_env, monkeypatch, tmp_path):
    # The whole flow, over a real KDC, is in tests/kerberos.
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-kerberos-ticket")
    provider = AzureServiceTokenProvider("RunAs=CurrentUser", cache=TokenCache())
    with pytest.raises(AzureServiceTokenProviderError, match=r"No Kerberos ticket.*kinit"):
        provider.get_access_token(VAULT)


def test_a_wrong_app_key_never_borrows_a_token_cached_with_the_right_one(azure_emulator, azure_emulator_env):
    cache = TokenCache()
    good = _secret_provider(azure_emulator, cache)
    good.get_access_token(VAULT)
    wrong = AzureServiceTokenProvider(
        f"RunAs=App;AppId={azure_emulator.app.app_id};TenantId={azure_emulator.tenant_id};AppKey=not-the-key",
        azure_emulator.authority,
        cache=cache,
    )
    with pytest.raises(AzureServiceTokenProviderError, match="AADSTS7000215"):
        wrong.get_access_token(VAULT)
