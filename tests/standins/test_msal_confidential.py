"""msal's ConfidentialClientApplication (written by Microsoft, not us) against the Entra stand-in."""

from __future__ import annotations

import msal
import pytest

from appauth_core.testing import AzureEmulator, ClientCertificate

VAULT_SCOPE = "https://vault.azure.net/.default"


def _cca(emulator: AzureEmulator, client_id: str, credential: object, tenant: str | None = None):
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=f"{emulator.authority}{tenant or emulator.tenant_id}",
        instance_discovery=False,
        validate_authority=False,
    )


def test_client_secret_gets_a_v1_vault_token(azure_emulator, azure_emulator_env):
    app = _cca(azure_emulator, azure_emulator.app.app_id, azure_emulator.app.secrets[0])
    result = app.acquire_token_for_client([VAULT_SCOPE])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    assert 3000 < result["expires_in"] <= 3600
    claims = azure_emulator.issuer.verify(result["access_token"])
    tid = azure_emulator.tenant_id
    assert claims["aud"] == "https://vault.azure.net"
    assert claims["iss"] == f"https://sts.windows.net/{tid}/"
    assert claims["ver"] == "1.0"
    assert claims["appid"] == azure_emulator.app.app_id
    assert claims["appidacr"] == "1"
    assert claims["oid"] == claims["sub"] == azure_emulator.app.object_id
    assert claims["tid"] == tid
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert {"uti", "aio", "idtyp"} <= claims.keys()
    # msal's own cache answers the second call: the stand-in sees one token request.
    assert app.acquire_token_for_client([VAULT_SCOPE])["token_source"] == "cache"
    assert azure_emulator.counters["entra.token"] == 1


def test_tenant_may_be_given_by_domain(azure_emulator, azure_emulator_env):
    domain = azure_emulator.directory.home_tenant.domain
    result = _cca(
        azure_emulator, azure_emulator.app.app_id, azure_emulator.app.secrets[0], domain
    ).acquire_token_for_client([VAULT_SCOPE])
    assert azure_emulator.issuer.verify(result["access_token"])["tid"] == azure_emulator.tenant_id


@pytest.mark.parametrize("with_public_certificate", [False, True], ids=["RS256+x5t", "PS256+x5t#S256"])
def test_certificate_assertion(azure_emulator, azure_emulator_env, with_public_certificate):
    certificate = ClientCertificate.generate()
    app_reg = azure_emulator.register_app(certificate=certificate)
    credential = {
        "private_key": certificate.private_key_pem.decode(),
        "thumbprint": certificate.thumbprint_sha1,
    }
    if with_public_certificate:  # msal then signs PS256 with x5t#S256
        credential["public_certificate"] = certificate.certificate_pem.decode()
    result = _cca(azure_emulator, app_reg.app_id, credential).acquire_token_for_client([VAULT_SCOPE])
    assert "access_token" in result, result
    claims = azure_emulator.issuer.verify(result["access_token"])
    assert claims["appid"] == app_reg.app_id
    assert claims["appidacr"] == "2"


def test_unregistered_certificate_is_refused(azure_emulator, azure_emulator_env):
    registered, other = ClientCertificate.generate(), ClientCertificate.generate()
    app_reg = azure_emulator.register_app(certificate=registered)
    credential = {"private_key": other.private_key_pem.decode(), "thumbprint": other.thumbprint_sha1}
    result = _cca(azure_emulator, app_reg.app_id, credential).acquire_token_for_client([VAULT_SCOPE])
    assert result["error"] == "invalid_client"
    assert 700027 in result["error_codes"]


def test_signature_by_another_key_under_a_registered_thumbprint_is_refused(azure_emulator, azure_emulator_env):
    registered, forger = ClientCertificate.generate(), ClientCertificate.generate()
    app_reg = azure_emulator.register_app(certificate=registered)
    credential = {"private_key": forger.private_key_pem.decode(), "thumbprint": registered.thumbprint_sha1}
    result = _cca(azure_emulator, app_reg.app_id, credential).acquire_token_for_client([VAULT_SCOPE])
    assert result["error"] == "invalid_client"
    assert "signature" in result["error_description"]


def test_wrong_secret_is_aadsts7000215(azure_emulator, azure_emulator_env):
    result = _cca(azure_emulator, azure_emulator.app.app_id, "not-the-secret").acquire_token_for_client([VAULT_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert "not-the-secret" not in str(result)


def test_unknown_app_is_aadsts700016(azure_emulator, azure_emulator_env):
    result = _cca(azure_emulator, "11111111-2222-3333-4444-555555555555", "x").acquire_token_for_client([VAULT_SCOPE])
    assert result["error"] == "unauthorized_client"
    assert result["error_codes"] == [700016]


def test_app_of_another_tenant_is_unknown_here(azure_emulator, azure_emulator_env):
    other = azure_emulator.directory.add_tenant()
    app_reg = azure_emulator.register_app(secret="s3cret-value", tenant_id=other.tenant_id)
    result = _cca(azure_emulator, app_reg.app_id, "s3cret-value").acquire_token_for_client([VAULT_SCOPE])
    assert result["error_codes"] == [700016]
    ok = _cca(azure_emulator, app_reg.app_id, "s3cret-value", other.tenant_id).acquire_token_for_client([VAULT_SCOPE])
    assert azure_emulator.issuer.verify(ok["access_token"])["tid"] == other.tenant_id


def test_unknown_tenant_fails_discovery_with_aadsts90002(azure_emulator, azure_emulator_env):
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        _cca(azure_emulator, azure_emulator.app.app_id, "x", "00000000-0000-0000-0000-00000000dead")


def test_scope_without_default_is_aadsts1002012(azure_emulator, azure_emulator_env):
    result = _cca(azure_emulator, azure_emulator.app.app_id, azure_emulator.app.secrets[0]).acquire_token_for_client(
        ["https://vault.azure.net/user_impersonation"]
    )
    assert result["error"] == "invalid_scope"
    assert result["error_codes"] == [1002012]
