"""azure-keyvault-secrets' SecretClient, unchanged, against the emulated vault."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential, ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient


@pytest.fixture
def credential(azure_emulator, azure_emulator_env):
    return ClientSecretCredential(
        azure_emulator.tenant_id,
        azure_emulator.app.app_id,
        azure_emulator.app.secrets[0],
        authority=azure_emulator.authority,
        disable_instance_discovery=True,
    )


@pytest.fixture
def client(azure_emulator, credential):
    # Challenge-resource verification cannot pass for an IP-address vault URL (see ENVIRONMENT.md).
    return SecretClient(azure_emulator.vault.url, credential, verify_challenge_resource=False)


def test_set_then_get_latest_and_a_version(azure_emulator, credential):
    vault = azure_emulator.add_vault(f"fresh{uuid.uuid4().hex[:8]}")  # a new host: SecretClient has no challenge cached
    client = SecretClient(vault.url, credential, verify_challenge_resource=False)
    first = client.set_secret("api-key", "v1", content_type="text/plain", tags={"env": "test"})
    second = client.set_secret("api-key", "v2")
    assert first.properties.version != second.properties.version
    latest = client.get_secret("api-key")
    assert latest.value == "v2"
    assert latest.id == f"{vault.url}secrets/api-key/{second.properties.version}"
    pinned = client.get_secret("api-key", first.properties.version)
    assert pinned.value == "v1"
    assert pinned.properties.content_type == "text/plain"
    assert pinned.properties.tags == {"env": "test"}
    assert pinned.properties.enabled is True
    assert pinned.properties.created_on is not None
    assert pinned.properties.recovery_level == "Recoverable+Purgeable"
    # The SDK sent its first request without a token, got the challenge, then retried with one.
    assert azure_emulator.counters[f"keyvault.{vault.name}.challenge"] == 1
    assert azure_emulator.counters[f"keyvault.{vault.name}.set_secret"] == 2


def test_list_pages_through_next_link(client, azure_emulator):
    names = {f"paged-{i:02d}" for i in range(30)}
    for name in names:
        azure_emulator.vault.set_secret(name, "x")
    listed = {p.name for p in client.list_properties_of_secrets(max_page_size=25)}
    assert names <= listed
    assert azure_emulator.counters["keyvault.local.list_secrets"] >= 2  # 30+ items at <= 25 a page


def test_list_versions(client, azure_emulator):
    versions = [azure_emulator.vault.set_secret("rotating", f"value-{i}").version for i in range(3)]
    listed = [p.version for p in client.list_properties_of_secret_versions("rotating")]
    assert sorted(listed) == sorted(versions)


def test_delete_recover_and_purge(client, azure_emulator):
    azure_emulator.vault.set_secret("to-delete", "bye")
    deleted = client.begin_delete_secret("to-delete").result()
    assert deleted.name == "to-delete"
    assert deleted.recovery_id.endswith("/deletedsecrets/to-delete")
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("to-delete")
    assert client.get_deleted_secret("to-delete").name == "to-delete"
    client.begin_recover_deleted_secret("to-delete").result()
    assert client.get_secret("to-delete").value == "bye"
    client.begin_delete_secret("to-delete").result()
    client.purge_deleted_secret("to-delete")
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret("to-delete")


def test_missing_secret_is_secret_not_found(client):
    with pytest.raises(ResourceNotFoundError) as raised:
        client.get_secret("does-not-exist")
    assert raised.value.error.code == "SecretNotFound"
    assert "A secret with (name/id) does-not-exist was not found in this key vault" in raised.value.message


def test_invalid_name_is_bad_parameter(client):
    with pytest.raises(HttpResponseError) as raised:
        client.get_secret("not_valid")
    assert raised.value.status_code == 400
    assert raised.value.error.code == "BadParameter"


def test_disabled_secret_is_forbidden(client, azure_emulator):
    azure_emulator.vault.set_secret("switched-off", "x", enabled=False)
    with pytest.raises(HttpResponseError) as raised:
        client.get_secret("switched-off")
    assert raised.value.status_code == 403
    assert "disabled secret" in raised.value.message


def test_identity_without_access_is_forbidden(azure_emulator, azure_emulator_env):
    outsider = azure_emulator.register_app(secret="outsider-secret", vault_permissions=None)
    credential = ClientSecretCredential(
        azure_emulator.tenant_id,
        outsider.app_id,
        "outsider-secret",
        authority=azure_emulator.authority,
        disable_instance_discovery=True,
    )
    client = SecretClient(azure_emulator.vault.url, credential, verify_challenge_resource=False)
    with pytest.raises(HttpResponseError) as raised:
        client.get_secret("anything")
    assert raised.value.status_code == 403
    assert raised.value.error.code == "Forbidden"
    assert f"appid={outsider.app_id}" in raised.value.message
    assert "does not have secrets get permission" in raised.value.message


def test_get_only_permission_cannot_list(azure_emulator, azure_emulator_env):
    reader = azure_emulator.register_app(secret="reader-secret", vault_permissions=frozenset({"get"}))
    credential = ClientSecretCredential(
        azure_emulator.tenant_id,
        reader.app_id,
        "reader-secret",
        authority=azure_emulator.authority,
        disable_instance_discovery=True,
    )
    client = SecretClient(azure_emulator.vault.url, credential, verify_challenge_resource=False)
    azure_emulator.vault.set_secret("readable", "yes")
    assert client.get_secret("readable").value == "yes"
    with pytest.raises(HttpResponseError, match="does not have secrets list permission"):
        list(client.list_properties_of_secrets())


def test_wrong_audience_is_akv10022(azure_emulator):
    class ArmTokenCredential:  # hands out a token for ARM instead of Key Vault
        def get_token(self, *scopes, **kwargs):
            from azure.core.credentials import AccessToken

            issued = azure_emulator.issue_token("https://management.azure.com/")
            return AccessToken(issued.access_token, issued.expires_on)

    client = SecretClient(
        azure_emulator.vault.url,
        ArmTokenCredential(),
        verify_challenge_resource=False,
        connection_verify=str(azure_emulator.ca_path),
    )
    with pytest.raises(ClientAuthenticationError) as raised:
        client.get_secret("anything")
    assert "AKV10022: Invalid audience. Expected https://vault.azure.net, found: https://management.azure.com/." in str(
        raised.value
    )


def test_managed_identity_reads_the_vault(azure_emulator, azure_emulator_env):
    azure_emulator.vault.set_secret("for-the-app", "from-mi")
    client = SecretClient(azure_emulator.vault.url, ManagedIdentityCredential(), verify_challenge_resource=False)
    assert client.get_secret("for-the-app").value == "from-mi"


def test_a_second_vault_has_its_own_port_and_secrets(azure_emulator, credential):
    other = azure_emulator.vaults.get("second") or azure_emulator.add_vault("second")
    other.set_secret("only-here", "2")
    assert other.url != azure_emulator.vault.url
    client = SecretClient(other.url, credential, verify_challenge_resource=False)
    assert client.get_secret("only-here").value == "2"
    with pytest.raises(ResourceNotFoundError):
        SecretClient(azure_emulator.vault.url, credential, verify_challenge_resource=False).get_secret("only-here")
