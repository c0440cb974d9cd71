"""``provider.aio``: the provider as an azure-core async credential, for ``azure.keyvault.secrets.aio``,
``azure.storage.blob.aio`` and every other ``.aio`` Azure SDK client, on the provider's own cache."""

from __future__ import annotations

import asyncio
import base64
import copy
import inspect
import pickle
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import pytest_asyncio
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.credentials_async import AsyncSupportsTokenInfo, AsyncTokenCredential
from azure.keyvault.secrets.aio import SecretClient

from appauth_core import AzureServiceTokenProvider, AzureServiceTokenProviderError
from appauth_core.errors import InvalidRequestError
from appauth_core.tokens._cache import TokenCache

VAULT = "https://vault.azure.net"
VAULT_SCOPE = VAULT + "/.default"
STORAGE_SCOPE = "https://storage.azure.com/.default"
# What Key Vault sends in a CAE claims challenge (decoded): the token must be newer than this moment.
CLAIMS = '{"access_token":{"nbf":{"essential":true,"value":"1726077595"}}}'


def _secret_provider(emulator, cache=None, app_key=None) -> AzureServiceTokenProvider:
    app = emulator.app
    connection_string = f"RunAs=App;AppId={app.app_id};TenantId={emulator.tenant_id};AppKey={app_key or app.secrets[0]}"
    return AzureServiceTokenProvider(
        connection_string, emulator.authority, cache=cache if cache is not None else TokenCache()
    )


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting what is sent to it: ``asyncio.to_thread`` goes through it, so a
    count that does not move proves a call was answered on the loop's own thread."""

    def __init__(self) -> None:
        super().__init__(max_workers=4, thread_name_prefix="counted")
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest_asyncio.fixture
async def executor() -> CountingExecutor:
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)  # shut down with the test's loop
    return executor


def test_provider_aio_is_an_azure_core_async_credential():
    canary = "CANARY-app-key-" + uuid.uuid4().hex
    tenant = str(uuid.uuid4())
    provider = AzureServiceTokenProvider(f"RunAs=App;AppId={uuid.uuid4()};TenantId={tenant};AppKey={canary}")
    credential = provider.aio
    assert isinstance(credential, AsyncTokenCredential)
    assert isinstance(credential, AsyncSupportsTokenInfo)
    for name in ("get_token", "get_token_info", "close", "__aenter__", "__aexit__"):
        assert inspect.iscoroutinefunction(getattr(credential, name)), name
    assert repr(credential) == "<AsyncCredential of AzureServiceTokenProvider>"  # not even the redacted string
    assert canary not in repr(credential) and tenant not in repr(credential)
    # What returns a token is never called by a template engine (Django, Jinja's sandbox).
    assert all(getattr(credential, name).alters_data for name in ("get_token", "get_token_info", "close"))


def test_the_provider_is_reachable_by_no_attribute_of_the_credential():
    """Views hand ``request.appauth.aio`` around, and templates see ``request.appauth``: from the credential,
    no attribute name (private ones included) leads to the provider, its configuration or its sources."""
    provider = AzureServiceTokenProvider("RunAs=Developer;DeveloperTool=AzureCli", cache=TokenCache())  # no I/O
    credential = provider.aio
    assert [name for name in dir(credential) if not name.startswith("__")] == ["close", "get_token", "get_token_info"]
    with pytest.raises(AttributeError):
        credential._provider  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError):
        credential._provider = provider  # type: ignore[attr-defined]
    assert not hasattr(credential, "__dict__")
    assert copy.deepcopy({"credential": credential})["credential"] is credential
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(credential)


@pytest.mark.asyncio
async def test_an_aio_secret_client_takes_provider_aio(azure_emulator, azure_emulator_env):
    name = f"aio-{uuid.uuid4().hex[:8]}"
    azure_emulator.vault.set_secret(name, "read by the async client")
    provider = AzureServiceTokenProvider(cache=TokenCache())  # the App Service managed identity, from the env
    async with SecretClient(
        azure_emulator.vault.url,
        provider.aio,
        verify_challenge_resource=False,  # cannot pass for a loopback vault URL (see ENVIRONMENT.md)
        connection_verify=str(azure_emulator.ca_path),
    ) as client:
        assert (await client.get_secret(name)).value == "read by the async client"
        written = await client.set_secret(name, "written by the async client")
        assert (await client.get_secret(name, written.properties.version)).value == "written by the async client"
    assert azure_emulator.counters["mi.app_service"] == 1  # three reads and writes, one token
    assert provider.principal_used is not None
    assert provider.principal_used.app_id == azure_emulator.directory.system_identity.client_id
    # The async client's token (for the tenant the vault's challenge named) is in the cache the sync face
    # reads: no second request.
    assert azure_emulator.issuer.verify(provider.get_access_token(VAULT, azure_emulator.tenant_id))["aud"] == VAULT
    assert azure_emulator.counters["mi.app_service"] == 1


@pytest.mark.asyncio
async def test_a_key_vault_claims_challenge_gets_the_aio_client_a_fresh_token(azure_emulator, azure_emulator_env):
    name = f"cae-{uuid.uuid4().hex[:8]}"
    azure_emulator.vault.set_secret(name, "after the claims challenge")
    provider = _secret_provider(azure_emulator)
    async with SecretClient(
        azure_emulator.vault.url,
        provider.aio,
        verify_challenge_resource=False,
        connection_verify=str(azure_emulator.ca_path),
    ) as client:
        assert (await client.get_secret(name)).value == "after the claims challenge"
        before = provider.get_access_token(VAULT, azure_emulator.tenant_id)
        assert azure_emulator.counters["entra.token"] == 1
        encoded = base64.urlsafe_b64encode(CLAIMS.encode()).decode()
        challenge = (
            f'Bearer authorization="{azure_emulator.authority_with_tenant}", error="insufficient_claims", '
            f'claims="{encoded}"'
        )
        body = {"error": {"code": "Unauthorized", "message": "Token has been revoked"}}
        azure_emulator.faults.inject(
            f"keyvault.{azure_emulator.vault.name}.get_secret",
            status=401,
            body=body,
            headers={"WWW-Authenticate": challenge},
        )
        assert (await client.get_secret(name)).value == "after the claims challenge"
    assert azure_emulator.counters["entra.token"] == 2  # the claims forced a new token, once
    after = provider.get_access_token(VAULT, azure_emulator.tenant_id)
    assert after != before  # and it replaced the revoked one in the shared cache
    assert azure_emulator.counters["entra.token"] == 2


@pytest.mark.asyncio
async def test_a_cached_token_is_answered_on_the_loop_and_a_miss_off_it(azure_emulator, azure_emulator_env, executor):
    provider = _secret_provider(azure_emulator)
    credential = provider.aio
    first = await credential.get_token(VAULT_SCOPE)
    assert isinstance(first, AccessToken)
    assert executor.submitted == 1  # the upstream request ran on a thread, not on the loop
    for _ in range(50):
        assert (await credential.get_token(VAULT_SCOPE)) == first
    info = await credential.get_token_info(VAULT_SCOPE)
    assert isinstance(info, AccessTokenInfo)
    assert (info.token, info.expires_on, info.token_type) == (first.token, first.expires_on, "Bearer")
    assert info.refresh_on is not None and info.refresh_on < info.expires_on
    assert executor.submitted == 1  # 51 hits, none left the loop's thread
    assert azure_emulator.counters["entra.token"] == 1
    assert provider.get_token(VAULT_SCOPE) == first  # the sync face, the same entry


def test_async_and_sync_callers_for_one_resource_make_one_upstream_request(azure_emulator, azure_emulator_env):
    azure_emulator.faults.inject("entra.token", delay=0.3)  # keep the one request in flight while all pile up
    cache = TokenCache()  # shared by the two providers below, as the process-wide cache is by default
    sync_provider, async_provider = _secret_provider(azure_emulator, cache), _secret_provider(azure_emulator, cache)
    barrier = threading.Barrier(9)  # 8 sync callers and the loop start together

    def sync_caller() -> str:
        barrier.wait(10)
        return sync_provider.get_token(VAULT_SCOPE).token

    async def async_callers() -> list[str]:
        calls = [async_provider.aio.get_token(VAULT_SCOPE) for _ in range(16)]
        calls += [async_provider.aio.get_token_info(VAULT_SCOPE) for _ in range(8)]
        calls += [sync_provider.aio.get_token(VAULT_SCOPE) for _ in range(8)]
        barrier.wait(10)
        return [token.token for token in await asyncio.gather(*calls)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        pending = [pool.submit(sync_caller) for _ in range(8)]
        async_tokens = asyncio.run(async_callers())
        sync_tokens = [future.result(timeout=30) for future in pending]
    assert len(sync_tokens) == 8 and len(async_tokens) == 32
    assert len(set(sync_tokens) | set(async_tokens)) == 1
    assert azure_emulator.counters["entra.token"] == 1


@pytest.mark.asyncio
async def test_claims_force_a_fresh_token_that_every_caller_then_gets(azure_emulator, azure_emulator_env):
    provider = _secret_provider(azure_emulator)
    first = await provider.aio.get_token(VAULT_SCOPE)
    renewed = await provider.aio.get_token(VAULT_SCOPE, claims=CLAIMS, enable_cae=True)
    assert renewed.token != first.token
    assert azure_emulator.counters["entra.token"] == 2
    assert provider.get_access_token(VAULT) == renewed.token  # the sync face sees the new token
    info = await provider.aio.get_token_info(VAULT_SCOPE, options={"claims": CLAIMS, "enable_cae": True})
    assert info.token not in {first.token, renewed.token}
    assert azure_emulator.counters["entra.token"] == 3
    assert (await provider.aio.get_token(VAULT_SCOPE)).token == info.token  # cached again
    assert (await provider.aio.get_token(VAULT_SCOPE, enable_cae=True)).token == info.token  # CAE alone: no refresh
    assert azure_emulator.counters["entra.token"] == 3


@pytest.mark.asyncio
async def test_a_tenant_in_the_options_is_the_tenant_of_the_token(azure_emulator, azure_emulator_env):
    provider = _secret_provider(azure_emulator)
    info = await provider.aio.get_token_info(STORAGE_SCOPE, options={"tenant_id": azure_emulator.tenant_id})
    access = await provider.aio.get_token(STORAGE_SCOPE, tenant_id=azure_emulator.tenant_id)
    claims = azure_emulator.issuer.verify(access.token)
    assert (claims["aud"], claims["tid"]) == ("https://storage.azure.com", azure_emulator.tenant_id)
    assert access.token == info.token
    assert azure_emulator.counters["entra.token"] == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("scopes", "options", "match"),
    [
        pytest.param((VAULT_SCOPE, STORAGE_SCOPE), {}, "exactly one scope", id="two-scopes"),
        pytest.param((), {}, "exactly one scope", id="no-scope"),
        pytest.param(("https://vault.azure.net/user_impersonation",), {}, r"/\.default", id="not-default-scope"),
        pytest.param(("https://vault.azure.net; rm -rf //.default",), {}, "characters", id="bad-resource"),
        pytest.param((VAULT_SCOPE,), {"tenant_id": "not a tenant"}, "tenant_id", id="bad-tenant"),
        pytest.param(
            (VAULT_SCOPE,), {"tenant_id": "not a tenant", "claims": CLAIMS}, "tenant_id", id="bad-tenant-claims"
        ),
    ],
)
async def test_a_wrong_request_is_the_sync_error_raised_on_the_loop(
    azure_emulator, azure_emulator_env, executor, scopes, options, match
):
    provider = _secret_provider(azure_emulator)
    with pytest.raises(InvalidRequestError, match=match):
        await provider.aio.get_token(*scopes, **options)
    with pytest.raises(InvalidRequestError, match=match):
        await provider.aio.get_token_info(*scopes, options=options)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=match):
        provider.get_token(*scopes, **options)  # the same check as the sync face
    assert executor.submitted == 0  # refused before any thread or request
    assert azure_emulator.counters.snapshot() == {}


@pytest.mark.asyncio
async def test_a_failed_sign_in_is_the_providers_error_without_the_secret(azure_emulator, azure_emulator_env, canaries):
    app_key = canaries.new("app-key")
    provider = _secret_provider(azure_emulator, app_key=app_key)
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        await provider.aio.get_token(VAULT_SCOPE)
    assert raised.value.resource == VAULT
    assert "AADSTS7000215" in str(raised.value)  # Entra's "invalid client secret", as the sync face reports it
    canaries.check_error(raised.value)
    with pytest.raises(AzureServiceTokenProviderError) as again:
        await provider.aio.get_token_info(VAULT_SCOPE)
    canaries.check_error(again.value)


@pytest.mark.asyncio
async def test_closing_the_async_face_leaves_the_provider_usable(azure_emulator, azure_emulator_env):
    provider = _secret_provider(azure_emulator)
    face = provider.aio
    async with face as credential:
        assert credential is face
        token = (await credential.get_token(VAULT_SCOPE)).token
    await provider.aio.close()
    assert (await provider.aio.get_token(VAULT_SCOPE)).token == token
    assert provider.get_access_token(VAULT) == token
    assert azure_emulator.counters["entra.token"] == 1
