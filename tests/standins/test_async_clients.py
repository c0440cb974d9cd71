"""The ``.aio`` Azure SDK clients, unchanged, with ``provider.aio`` as their credential: Azure Storage's
``BlobServiceClient`` against Azurite and Key Vault's ``SecretClient`` against the emulated vault, on the
aiohttp transport azure-core uses for them."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets.aio import SecretClient
from azure.storage.blob.aio import BlobServiceClient

from appauth_core import AzureServiceTokenProvider
from appauth_core.testing.emulator import AzureEmulator
from appauth_core.tokens import TokenCache

STORAGE = "https://storage.azure.com"


def _secret_provider(emulator: AzureEmulator) -> AzureServiceTokenProvider:
    app = emulator.app
    connection_string = f"RunAs=App;AppId={app.app_id};TenantId={emulator.tenant_id};AppKey={app.secrets[0]}"
    return AzureServiceTokenProvider(connection_string, emulator.authority, cache=TokenCache())


def _secret_client(emulator: AzureEmulator, provider: AzureServiceTokenProvider) -> SecretClient:
    # Challenge-resource verification cannot pass for an IP-address vault URL (see ENVIRONMENT.md).
    return SecretClient(
        emulator.vault.url, provider.aio, verify_challenge_resource=False, connection_verify=str(emulator.ca_path)
    )


@pytest.mark.azurite
@pytest.mark.asyncio
async def test_an_aio_blob_service_client_takes_provider_aio(
    azurite: str, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    provider = _secret_provider(azure_emulator)
    name = f"appauth-aio-{uuid.uuid4().hex[:10]}"
    data = uuid.uuid4().bytes * 64
    async with BlobServiceClient(
        azurite, credential=provider.aio, connection_verify=str(azure_emulator.ca_path)
    ) as service:
        container = await service.create_container(name)
        await container.upload_blob("greeting.bin", data)
        assert await (await container.download_blob("greeting.bin")).readall() == data
        assert [blob.name async for blob in container.list_blobs()] == ["greeting.bin"]
        assert name in [item.name async for item in service.list_containers()]
        await container.delete_blob("greeting.bin")
        assert [blob.name async for blob in container.list_blobs()] == []
    assert azure_emulator.counters["entra.token"] == 1  # seven storage calls, one token
    claims = azure_emulator.issuer.verify(provider.get_access_token(STORAGE))  # the cached one: no request
    assert (claims["aud"], claims["appid"]) == (STORAGE, azure_emulator.app.app_id)
    assert azure_emulator.counters["entra.token"] == 1


@pytest.mark.azurite
@pytest.mark.asyncio
async def test_aio_storage_and_key_vault_clients_at_once_make_one_request_per_resource(
    azurite: str, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    """Both clients on one loop, eight operations each at the same moment on a cold cache: the token
    requests are shared per resource, whichever client and task asks."""
    azure_emulator.faults.inject("entra.token", delay=0.3, times=2)  # keep both requests in flight meanwhile
    provider = _secret_provider(azure_emulator)
    prefix = f"both-{uuid.uuid4().hex[:8]}"
    for index in range(8):
        azure_emulator.vault.set_secret(f"{prefix}-{index}", f"value-{index}")
    async with (
        BlobServiceClient(azurite, credential=provider.aio, connection_verify=str(azure_emulator.ca_path)) as service,
        _secret_client(azure_emulator, provider) as secrets,
    ):
        containers = [f"{prefix}-{index}" for index in range(8)]
        results = await asyncio.gather(
            *(service.create_container(name) for name in containers),
            *(secrets.get_secret(f"{prefix}-{index}") for index in range(8)),
        )
        assert [secret.value for secret in results[8:]] == [f"value-{index}" for index in range(8)]
        listed = {item.name async for item in service.list_containers(name_starts_with=prefix)}
        assert listed == set(containers)
    assert azure_emulator.counters["entra.token"] == 2  # one for Storage, one for Key Vault


@pytest.mark.asyncio
async def test_an_aio_secret_client_writes_lists_and_deletes_with_provider_aio(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    vault = azure_emulator.add_vault(f"aio{uuid.uuid4().hex[:8]}")  # a new host: no challenge cached for it
    provider = _secret_provider(azure_emulator)
    async with SecretClient(
        vault.url, provider.aio, verify_challenge_resource=False, connection_verify=str(azure_emulator.ca_path)
    ) as client:
        first = await client.set_secret("api-key", "v1", content_type="text/plain")
        second = await client.set_secret("api-key", "v2")
        assert (await client.get_secret("api-key")).value == "v2"
        assert (await client.get_secret("api-key", first.properties.version)).value == "v1"
        versions = {item.version async for item in client.list_properties_of_secret_versions("api-key")}
        assert versions == {first.properties.version, second.properties.version}
        assert "api-key" in {item.name async for item in client.list_properties_of_secrets()}
        deleted = await client.delete_secret("api-key")
        assert deleted.name == "api-key"
        with pytest.raises(ResourceNotFoundError):
            await client.get_secret("api-key")
    assert azure_emulator.counters[f"keyvault.{vault.name}.challenge"] == 1  # the SDK's challenge-first request
    assert azure_emulator.counters["entra.token"] == 1
