"""msal's ManagedIdentityClient against each managed-identity host the emulator plays."""

from __future__ import annotations

import os
import time
from pathlib import Path

import msal
import pytest
import requests

from appauth_core.testing import AzureEmulator

ARC_TOKEN_DIR = Path("/var/opt/azcmagent/tokens")  # msal reads Arc keys only from here on Linux
RESOURCE = "https://vault.azure.net"


def _client(identity: object) -> msal.ManagedIdentityClient:
    return msal.ManagedIdentityClient(identity, http_client=requests.Session())


def _point_at(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in (
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IMDS_ENDPOINT",
        "IDENTITY_SERVER_THUMBPRINT",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "MSI_ENDPOINT",
        "MSI_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _assert_token_for(emulator: AzureEmulator, result: dict, client_id: str) -> dict:
    assert "access_token" in result, result
    claims = emulator.issuer.verify(result["access_token"])
    assert claims["aud"] == RESOURCE
    assert claims["appid"] == client_id
    assert claims["appidacr"] == "2"
    assert claims["iss"] == f"https://sts.windows.net/{emulator.tenant_id}/"
    assert claims["exp"] > time.time() + 3600
    return claims


def test_app_service_system_assigned(azure_emulator, azure_emulator_env, monkeypatch):
    _point_at(monkeypatch, azure_emulator.app_service_env())
    assert msal.managed_identity.get_managed_identity_source() is msal.managed_identity.APP_SERVICE
    result = _client(msal.SystemAssignedManagedIdentity()).acquire_token_for_client(resource=RESOURCE)
    claims = _assert_token_for(azure_emulator, result, azure_emulator.directory.system_identity.client_id)
    assert claims["xms_mirid"] == azure_emulator.directory.system_identity.resource_id
    assert azure_emulator.counters["mi.app_service"] == 1


@pytest.mark.parametrize("selector", ["client_id", "object_id", "resource_id"])
def test_app_service_user_assigned(azure_emulator, azure_emulator_env, monkeypatch, selector):
    _point_at(monkeypatch, azure_emulator.app_service_env())
    identity = azure_emulator.user_assigned_identity
    chosen = msal.UserAssignedManagedIdentity(**{selector: getattr(identity, selector)})
    result = _client(chosen).acquire_token_for_client(resource=RESOURCE)
    claims = _assert_token_for(azure_emulator, result, identity.client_id)
    assert claims["oid"] == identity.object_id


def test_app_service_unknown_identity_is_an_error(azure_emulator, azure_emulator_env, monkeypatch):
    _point_at(monkeypatch, azure_emulator.app_service_env())
    result = _client(
        msal.UserAssignedManagedIdentity(client_id="00000000-0000-0000-0000-000000000001")
    ).acquire_token_for_client(resource=RESOURCE)
    assert result["error"] == "invalid_scope"  # msal's mapping of App Service's {"statusCode", "message"}
    assert "No managed identity found" in result["error_description"]


@pytest.mark.parametrize("selector", [None, "client_id", "object_id", "resource_id"])
def test_imds_via_pod_identity_authority_host(azure_emulator, azure_emulator_env, monkeypatch, selector):
    _point_at(monkeypatch, azure_emulator.imds_env())
    assert msal.managed_identity.get_managed_identity_source() is msal.managed_identity.DEFAULT_TO_VM
    if selector is None:
        identity, chosen = azure_emulator.directory.system_identity, msal.SystemAssignedManagedIdentity()
    else:
        identity = azure_emulator.user_assigned_identity
        chosen = msal.UserAssignedManagedIdentity(**{selector: getattr(identity, selector)})
    result = _client(chosen).acquire_token_for_client(resource=RESOURCE)
    _assert_token_for(azure_emulator, result, identity.client_id)
    assert azure_emulator.counters["mi.imds"] == 1


@pytest.mark.root
@pytest.mark.parametrize("user_assigned", [False, True])
def test_azure_arc_challenge_and_key_file(monkeypatch, user_assigned):
    try:
        ARC_TOKEN_DIR.mkdir(parents=True, exist_ok=True)
        probe = ARC_TOKEN_DIR / ".appauth-write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError:
        if os.environ.get("APPAUTH_REQUIRE_TOOLS") == "1":
            pytest.fail(f"msal's Arc flow needs {ARC_TOKEN_DIR} writable (run as root, as CI does)")
        pytest.skip(f"msal's Arc flow reads keys from {ARC_TOKEN_DIR}, which needs root")
    with AzureEmulator(arc_key_dir=ARC_TOKEN_DIR) as emulator:
        _point_at(monkeypatch, {**emulator.arc_env(), "REQUESTS_CA_BUNDLE": str(emulator.ca_bundle_path)})
        assert msal.managed_identity.get_managed_identity_source() is msal.managed_identity.AZURE_ARC
        if user_assigned:
            identity = emulator.user_assigned_identity
            chosen = msal.UserAssignedManagedIdentity(client_id=identity.client_id)
        else:
            identity, chosen = emulator.directory.system_identity, msal.SystemAssignedManagedIdentity()
        result = _client(chosen).acquire_token_for_client(resource=RESOURCE)
        _assert_token_for(emulator, result, identity.client_id)
        assert emulator.counters["mi.arc"] == 2  # the 401 challenge, then the request with the key


def test_service_fabric_pins_the_server_certificate(azure_emulator, azure_emulator_env, monkeypatch):
    env = azure_emulator.service_fabric_env()
    _point_at(monkeypatch, env)
    assert msal.managed_identity.get_managed_identity_source() is msal.managed_identity.SERVICE_FABRIC
    result = _client(msal.SystemAssignedManagedIdentity()).acquire_token_for_client(resource=RESOURCE)
    _assert_token_for(azure_emulator, result, azure_emulator.directory.system_identity.client_id)
    # A different pinned thumbprint must make msal refuse the connection: proof the pin is our cert's.
    monkeypatch.setenv("IDENTITY_SERVER_THUMBPRINT", "0" * 40)
    with pytest.raises(requests.exceptions.SSLError):
        _client(msal.SystemAssignedManagedIdentity()).acquire_token_for_client(resource="https://storage.azure.com")


def test_machine_learning_2017_protocol(azure_emulator, azure_emulator_env, monkeypatch):
    _point_at(monkeypatch, azure_emulator.app_service_2017_env())
    result = _client(msal.SystemAssignedManagedIdentity()).acquire_token_for_client(resource=RESOURCE)
    _assert_token_for(azure_emulator, result, azure_emulator.directory.system_identity.client_id)
    assert azure_emulator.counters["mi.app_service_2017"] == 1
