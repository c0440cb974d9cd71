"""An async Django view using the ``.aio`` Azure SDK clients with ``request.appauth.aio`` (the app's provider
as an azure-core async credential): Key Vault's ``SecretClient`` against the emulated vault and Azure Storage's
``BlobServiceClient`` against Azurite, served by Django's ASGI handler, on the tokens the sync side uses."""

from __future__ import annotations

import threading
import uuid

import pytest
from azure.keyvault.secrets.aio import SecretClient
from azure.storage.blob.aio import BlobServiceClient
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from appauth_core import clear_token_cache


async def aio_secret(request: HttpRequest) -> JsonResponse:
    """What a user writes: an ``.aio`` client per request, the app's identity as its credential."""
    async with SecretClient(
        settings.APPAUTH["KEY_VAULT_URL"],
        credential=request.appauth.aio,  # type: ignore[attr-defined]
        verify_challenge_resource=False,  # the emulator's vault is a loopback URL (see ENVIRONMENT.md)
        connection_verify=settings.AZURE_CONNECTION_VERIFY,
    ) as client:
        secret = await client.get_secret(request.GET["name"])
    return JsonResponse({"value": secret.value, "thread": threading.get_ident()})


async def aio_blobs(request: HttpRequest) -> JsonResponse:
    async with BlobServiceClient(
        settings.AZURE_STORAGE_ACCOUNT_URL,
        credential=request.appauth.aio,  # type: ignore[attr-defined]
        connection_verify=settings.AZURE_CONNECTION_VERIFY,
    ) as service:
        container = service.get_container_client(request.GET["container"])
        if not await container.exists():
            await container.create_container()
        await container.upload_blob(request.GET["blob"], b"from an async Django view", overwrite=True)
        names = [blob.name async for blob in container.list_blobs()]
    return JsonResponse({"blobs": names, "thread": threading.get_ident()})


urlpatterns = [
    path("aio/secret", aio_secret),
    path("aio/blobs", aio_blobs),
    path("", include("tests.django.urls")),
]


@pytest.fixture
def site(appauth_settings, azure_emulator):
    appauth_settings.ROOT_URLCONF = __name__
    appauth_settings.AZURE_CONNECTION_VERIFY = str(azure_emulator.ca_path)
    clear_token_cache()  # the process-wide cache: a token an earlier test left would hide the requests counted here
    return appauth_settings


@pytest.mark.asyncio
async def test_an_async_view_reads_a_secret_with_an_aio_secret_client(
    async_client, site, azure_emulator, vault_secrets
):
    for _ in range(2):
        response = await async_client.get("/aio/secret", {"name": "api-key"})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["value"] == vault_secrets["api-key"]
        assert body["thread"] == threading.get_ident()  # the view ran on the event loop, not adapted to a thread
    # Two requests, two clients, one token; request.appauth's own (sync) Key Vault reads use that token too.
    assert (await async_client.get("/secret/async", {"name": "db-password"})).json()["value"] == vault_secrets[
        "db-password"
    ]
    assert azure_emulator.counters["mi.app_service"] == 1
    assert azure_emulator.counters[f"keyvault.{azure_emulator.vault.name}.get_secret"] == 3


@pytest.mark.azurite
@pytest.mark.asyncio
async def test_an_async_view_writes_and_lists_blobs_with_an_aio_blob_client(
    async_client, site, azure_emulator, azurite
):
    site.AZURE_STORAGE_ACCOUNT_URL = azurite
    container = f"django-aio-{uuid.uuid4().hex[:8]}"
    first = (await async_client.get("/aio/blobs", {"container": container, "blob": "one.txt"})).json()
    second = (await async_client.get("/aio/blobs", {"container": container, "blob": "two.txt"})).json()
    assert first["blobs"] == ["one.txt"]
    assert second["blobs"] == ["one.txt", "two.txt"]
    assert second["thread"] == threading.get_ident()
    assert azure_emulator.counters["mi.app_service"] == 1  # one Storage token for both requests
    # The sync side of request.appauth gets that same cached token.
    token = (await async_client.get("/token/sync", {"resource": "https://storage.azure.com"})).json()
    assert token["aud"] == "https://storage.azure.com"
    assert azure_emulator.counters["mi.app_service"] == 1
