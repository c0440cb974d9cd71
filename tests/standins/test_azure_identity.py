"""azure-identity's credentials, unchanged, against the emulator."""

from __future__ import annotations

import time

import pytest
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from appauth_core.testing import ClientCertificate

VAULT_SCOPE = "https://vault.azure.net/.default"


def _claims(emulator, token):
    assert token.expires_on > time.time() + 600
    return emulator.issuer.verify(token.token)


def test_client_secret_credential(azure_emulator, azure_emulator_env):
    credential = ClientSecretCredential(
        azure_emulator.tenant_id,
        azure_emulator.app.app_id,
        azure_emulator.app.secrets[0],
        authority=azure_emulator.authority,
        disable_instance_discovery=True,
    )
    claims = _claims(azure_emulator, credential.get_token(VAULT_SCOPE))
    assert claims["appid"] == azure_emulator.app.app_id
    assert claims["aud"] == "https://vault.azure.net"


def test_client_secret_credential_wrong_secret(azure_emulator, azure_emulator_env):
    from azure.core.exceptions import ClientAuthenticationError

    credential = ClientSecretCredential(
        azure_emulator.tenant_id,
        azure_emulator.app.app_id,
        "wrong-secret-value",
        authority=azure_emulator.authority,
        disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215") as raised:
        credential.get_token(VAULT_SCOPE)
    assert "wrong-secret-value" not in str(raised.value)


def test_certificate_credential(azure_emulator, azure_emulator_env, tmp_path):
    certificate = ClientCertificate.generate()
    app = azure_emulator.register_app(certificate=certificate)
    pem = tmp_path / "client.pem"
    pem.write_bytes(certificate.pem_bundle)
    credential = CertificateCredential(
        azure_emulator.tenant_id,
        app.app_id,
        str(pem),
        authority=azure_emulator.authority,
        disable_instance_discovery=True,
    )
    claims = _claims(azure_emulator, credential.get_token("https://storage.azure.com/.default"))
    assert claims["appid"] == app.app_id
    assert claims["appidacr"] == "2"
    assert claims["aud"] == "https://storage.azure.com"


def test_workload_identity_credential(azure_emulator, azure_emulator_env, tmp_path):
    subject = "system:serviceaccount:default:web"
    app = azure_emulator.register_app(federated_subject=subject)
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(azure_emulator.issue_federated_token(subject))
    credential = WorkloadIdentityCredential(
        tenant_id=azure_emulator.tenant_id,
        client_id=app.app_id,
        token_file_path=str(token_file),
        authority=azure_emulator.authority,
        disable_instance_discovery=True,
    )
    claims = _claims(azure_emulator, credential.get_token(VAULT_SCOPE))
    assert claims["appid"] == app.app_id


def test_workload_identity_with_unknown_subject_is_aadsts70021(azure_emulator, azure_emulator_env, tmp_path):
    from azure.core.exceptions import ClientAuthenticationError

    app = azure_emulator.register_app(federated_subject="system:serviceaccount:default:web")
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(azure_emulator.issue_federated_token("system:serviceaccount:default:intruder"))
    credential = WorkloadIdentityCredential(
        tenant_id=azure_emulator.tenant_id,
        client_id=app.app_id,
        token_file_path=str(token_file),
        authority=azure_emulator.authority,
        disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS70021"):
        credential.get_token(VAULT_SCOPE)


def test_managed_identity_credential_app_service(azure_emulator, azure_emulator_env):
    # azure_emulator_env points IDENTITY_ENDPOINT/IDENTITY_HEADER at the emulated App Service.
    claims = _claims(azure_emulator, ManagedIdentityCredential().get_token(VAULT_SCOPE))
    assert claims["appid"] == azure_emulator.directory.system_identity.client_id


def test_managed_identity_credential_imds_user_assigned(azure_emulator, azure_emulator_env, monkeypatch):
    monkeypatch.delenv("IDENTITY_ENDPOINT")
    monkeypatch.delenv("IDENTITY_HEADER")
    identity = azure_emulator.user_assigned_identity
    credential = ManagedIdentityCredential(client_id=identity.client_id)
    claims = _claims(azure_emulator, credential.get_token("https://management.azure.com/.default"))
    assert claims["appid"] == identity.client_id
    assert claims["aud"] == "https://management.azure.com"
    assert azure_emulator.counters["mi.imds"] == 1


def test_managed_identity_credential_cloud_shell(azure_emulator, azure_emulator_env, monkeypatch):
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.delenv(name)
    for name, value in azure_emulator.cloud_shell_env().items():
        monkeypatch.setenv(name, value)
    claims = _claims(azure_emulator, ManagedIdentityCredential().get_token(VAULT_SCOPE))
    assert claims["appid"] == azure_emulator.directory.system_identity.client_id
    assert azure_emulator.counters["mi.cloud_shell"] == 1
