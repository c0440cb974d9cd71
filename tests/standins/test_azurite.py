"""Azurite (the real Azure Storage emulator, 3.37, with ``--oauth basic``) accepts the storage tokens the
emulator's Entra ID issues to azure-identity, and refuses emulator tokens meant for something else.

Azurite does not check signatures, so acceptance proves the token's shape (v1 issuer, storage audience,
iat/nbf/exp). The refusals prove it is really reading those claims rather than letting anything through.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.storage.blob import BlobServiceClient

from appauth_core.testing.emulator import AzureEmulator

pytestmark = pytest.mark.azurite

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
STORAGE_SCOPE = "https://storage.azure.com/.default"
ACCOUNT = "devstoreaccount1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Azurite exited with {process.returncode} before listening:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"Azurite did not listen on 127.0.0.1:{port} within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def azurite(
    azurite_blob: Path, azure_emulator_session: AzureEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Azurite's blob service over HTTPS with the emulator's server certificate; yields the account URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("azurite") / "azurite.log"
    tls = azure_emulator_session.tls
    command = [
        str(azurite_blob),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--oauth", "basic",
        "--cert", str(tls.cert_path),
        "--key", str(tls.key_path),
        "--inMemoryPersistence",
        "--disableTelemetry",  # otherwise it reports to the internet
        "--skipApiVersionCheck",  # azure-storage-blob's default API version is newer than Azurite's
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_until_listening(process, port, log)
        yield f"https://127.0.0.1:{port}/{ACCOUNT}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _emulator_credential(emulator: AzureEmulator) -> ClientSecretCredential:
    """azure-identity exactly as an app would use it, pointed at the emulator's authority and CA."""
    return ClientSecretCredential(
        emulator.tenant_id,
        emulator.app.app_id,
        emulator.app.secrets[0],
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_path),  # honoured for the token request too (azure-core transport)
    )


def _container_name() -> str:
    return f"appauth-{uuid.uuid4().hex[:12]}"


class FixedTokenCredential:
    """Hands out one given token for whatever scope is asked, and remembers the scopes."""

    def __init__(self, token: str, expires_on: int) -> None:
        self.token = token
        self.expires_on = expires_on
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(self.token, self.expires_on)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        self.scopes.extend(scopes)
        return AccessTokenInfo(self.token, self.expires_on)


def test_azurite_accepts_the_storage_token_the_emulator_issues(azurite: str, azure_emulator: AzureEmulator) -> None:
    emulator = azure_emulator
    name = _container_name()
    data = uuid.uuid4().bytes * 64

    with (
        _emulator_credential(emulator) as credential,
        BlobServiceClient(azurite, credential=credential, connection_verify=str(emulator.ca_path)) as service,
    ):
        container = service.create_container(name)
        container.upload_blob("greeting.bin", data)
        assert container.download_blob("greeting.bin").readall() == data
        assert [blob.name for blob in container.list_blobs()] == ["greeting.bin"]
        assert name in [item.name for item in service.list_containers()]
        assert emulator.counters["entra.token"] >= 1  # the token came from the emulator's Entra ID

        # The token azure-identity holds (from its cache) is the emulator's v1 storage token.
        claims = emulator.issuer.verify(credential.get_token(STORAGE_SCOPE).token)
    assert claims["aud"] == "https://storage.azure.com"
    assert claims["iss"] == f"https://sts.windows.net/{emulator.tenant_id}/"
    assert claims["appid"] == emulator.app.app_id
    assert claims["tid"] == emulator.tenant_id


@pytest.mark.parametrize(
    ("resource", "lifetime", "detail"),
    [
        pytest.param("https://vault.azure.net", None, "Invalid token audience", id="key-vault-audience"),
        pytest.param("https://storage.azure.com", -120, "expired", id="expired-storage-token"),
    ],
)
def test_azurite_refuses_emulator_tokens_not_fit_for_storage(
    azurite: str, azure_emulator: AzureEmulator, resource: str, lifetime: int | None, detail: str
) -> None:
    emulator = azure_emulator
    issued = emulator.issue_token(resource, lifetime=lifetime)
    assert emulator.issuer.verify(issued.access_token)["aud"] == resource  # a genuine emulator token
    credential = FixedTokenCredential(issued.access_token, issued.expires_on)
    name = _container_name()

    with (
        BlobServiceClient(azurite, credential=credential, connection_verify=str(emulator.ca_path)) as service,
        pytest.raises(HttpResponseError) as refused,
    ):
        service.create_container(name)
    assert credential.scopes
    assert set(credential.scopes) == {STORAGE_SCOPE}
    assert refused.value.status_code == 403
    assert refused.value.error_code == "AuthenticationFailed"
    assert detail in str(refused.value)

    # Nothing was created: a good token does not find the container.
    with (
        _emulator_credential(emulator) as good,
        BlobServiceClient(azurite, credential=good, connection_verify=str(emulator.ca_path)) as service,
    ):
        assert service.get_container_client(name).exists() is False


def test_azurite_accepts_a_storage_token_from_issue_token(azurite: str, azure_emulator: AzureEmulator) -> None:
    """Control for the refusals above: the same hand-out credential with a storage token is accepted."""
    emulator = azure_emulator
    issued = emulator.issue_token("https://storage.azure.com")
    credential = FixedTokenCredential(issued.access_token, issued.expires_on)
    name = _container_name()

    with BlobServiceClient(azurite, credential=credential, connection_verify=str(emulator.ca_path)) as service:
        service.create_container(name)
        assert service.get_container_client(name).exists() is True
    assert set(credential.scopes) == {STORAGE_SCOPE}
    assert emulator.counters["entra.token"] == 0  # no round trip: issue_token signs directly
