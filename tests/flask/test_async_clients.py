"""An async Flask view using the ``.aio`` Azure SDK clients with ``g.appauth.aio`` (the app's provider as an
azure-core async credential): Key Vault's ``SecretClient`` against the emulated vault and Azure Storage's
``BlobServiceClient`` against Azurite, on the tokens ``g.appauth`` uses."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from azure.keyvault.secrets.aio import SecretClient
from azure.storage.blob.aio import BlobServiceClient
from flask import Flask, g

from appauth_core import clear_token_cache

STORAGE = "https://storage.azure.com"


@pytest.fixture(autouse=True)
def _no_cached_token() -> None:
    clear_token_cache()  # the process-wide cache: a token an earlier test left would hide the requests counted here


def test_an_async_view_reads_a_secret_with_an_aio_secret_client(make_app, azure_emulator, canary):
    value = canary("flask-aio-secret")
    app: Flask = make_app()
    loops: list[asyncio.AbstractEventLoop] = []

    @app.get("/aio/secret/<name>")
    async def aio_secret(name: str) -> dict[str, str]:
        loops.append(asyncio.get_running_loop())
        async with SecretClient(
            app.config["APPAUTH_KEY_VAULT_URL"],
            credential=g.appauth.aio,
            verify_challenge_resource=False,  # the emulator's vault is a loopback URL (see ENVIRONMENT.md)
            connection_verify=str(azure_emulator.ca_path),
        ) as client:
            return {"value": (await client.get_secret(name)).value}

    @app.get("/secret/<name>")
    def sync_secret(name: str) -> dict[str, str]:
        return {"value": g.appauth.secret(name)}

    client = app.test_client()
    for _ in range(2):
        response = client.get("/aio/secret/flask-aio-secret")
        assert response.status_code == 200, response.text
        assert response.json == {"value": value}
    assert len(set(loops)) == 2  # Flask ran each async view on a loop of its own; one credential served both
    assert client.get("/secret/flask-aio-secret").json == {"value": value}  # g.appauth: the same token
    assert azure_emulator.counters["mi.app_service"] == 1
    assert azure_emulator.counters[f"keyvault.{azure_emulator.vault.name}.get_secret"] == 3


@pytest.mark.azurite
def test_an_async_view_writes_and_lists_blobs_with_an_aio_blob_client(make_app, azure_emulator, azurite):
    app: Flask = make_app()
    container = f"flask-aio-{uuid.uuid4().hex[:8]}"

    @app.post("/aio/blobs/<name>")
    async def aio_blobs(name: str) -> dict[str, list[str]]:
        async with BlobServiceClient(
            azurite, credential=g.appauth.aio, connection_verify=str(azure_emulator.ca_path)
        ) as service:
            blobs = service.get_container_client(container)
            if not await blobs.exists():
                await blobs.create_container()
            await blobs.upload_blob(name, b"from an async Flask view", overwrite=True)
            return {"blobs": [blob.name async for blob in blobs.list_blobs()]}

    @app.get("/token")
    def token() -> str:
        return g.appauth.get_access_token(STORAGE)

    client = app.test_client()
    assert client.post("/aio/blobs/one.txt").json == {"blobs": ["one.txt"]}
    assert client.post("/aio/blobs/two.txt").json == {"blobs": ["one.txt", "two.txt"]}
    assert azure_emulator.counters["mi.app_service"] == 1  # one Storage token for both requests
    assert azure_emulator.issuer.verify(client.get("/token").text)["aud"] == STORAGE  # g.appauth: that token
    assert azure_emulator.counters["mi.app_service"] == 1
