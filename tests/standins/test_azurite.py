"""Azurite (the real Azure Storage emulator, 3.37, with ``--oauth basic``) accepts the storage tokens the
emulator's Entra ID issues to azure-identity, and refuses emulator tokens meant for something else.

Azurite does not check signatures, so acceptance proves the token's shape (v1 issuer, storage audience,
iat/nbf/exp). The refusals prove it is really reading those claims rather than letting anything through.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.storage.blob import BlobServiceClient

from appauth_core.testing.emulator import AzureEmulator

pytestmark = pytest.mark.azurite

STORAGE_SCOPE = "https://storage.azure.com/.default"


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
