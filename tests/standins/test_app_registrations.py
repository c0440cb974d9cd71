"""APIs registered in the emulator (App ID URI, app roles, accepted token version), reached through the real
clients: msal's ConfidentialClientApplication (secret and certificate), azure-identity's ClientSecretCredential
and ManagedIdentityCredential (App Service and IMDS), and the v1 endpoint itself. Every token is checked as a
resource server would: with the key and issuer published by the discovery document, fetched over HTTPS."""

from __future__ import annotations

import re
import uuid

import jwt
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential, ManagedIdentityCredential

from appauth_core import AzureServiceTokenProvider
from appauth_core.testing import ApiRegistration, AppRegistration, AzureEmulator, ClientCertificate

from .published_keys import discovery, jwks_client, verified_claims

ROLES = ("Orders.Read", "Orders.Write", "Orders.Admin")


def unique_uri(name: str = "orders") -> str:
    """The session's emulator outlives each test: every test registers its own App ID URI."""
    return f"api://{name}-{uuid.uuid4().hex[:10]}"


def msal_app(emulator: AzureEmulator, app: AppRegistration, credential: object) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        app.app_id,
        client_credential=credential,
        authority=f"{emulator.authority}{app.tenant_id}",
        instance_discovery=False,
        validate_authority=False,
        token_cache=msal.TokenCache(),
    )


def secret_credential(emulator: AzureEmulator, app: AppRegistration) -> ClientSecretCredential:
    return ClientSecretCredential(
        app.tenant_id, app.app_id, app.secrets[0], authority=emulator.authority, disable_instance_discovery=True
    )


def v1_endpoint_token(emulator: AzureEmulator, app: AppRegistration, resource: str) -> requests.Response:
    """The v1 endpoint (``resource=``), as ADAL and the .NET library's AppKey source call it."""
    with requests.Session() as session:
        session.trust_env = False
        return session.post(
            f"{emulator.authority}{app.tenant_id}/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app.app_id,
                "client_secret": app.secrets[0],
                "resource": resource,
            },
            verify=str(emulator.ca_path),
            timeout=10,
        )


@pytest.fixture
def api(azure_emulator: AzureEmulator) -> ApiRegistration:
    return azure_emulator.register_api(unique_uri(), roles=ROLES)


@pytest.fixture
def api_v2(azure_emulator: AzureEmulator) -> ApiRegistration:
    return azure_emulator.register_api(unique_uri("billing"), roles=ROLES, version=2)


# --- service principals -------------------------------------------------------------------------------


def test_msal_secret_v1_api_token_is_for_the_app_id_uri_with_roles(azure_emulator, azure_emulator_env, api):
    app = azure_emulator.register_app(secret="s3cret-value~1")
    azure_emulator.assign_role(api, app, "Orders.Write")
    azure_emulator.assign_role(api, app, "Orders.Read")
    result = msal_app(azure_emulator, app, app.secrets[0]).acquire_token_for_client([f"{api.app_id_uri}/.default"])
    assert "access_token" in result, result
    claims = verified_claims(azure_emulator, result["access_token"], audience=api.app_id_uri, version=1)
    assert claims["iss"] == f"https://sts.windows.net/{azure_emulator.tenant_id}/"
    assert claims["ver"] == "1.0"
    assert claims["appid"] == app.app_id
    assert claims["appidacr"] == "1"
    assert claims["roles"] == ["Orders.Read", "Orders.Write"]  # in the API's order, each once
    assert claims["idtyp"] == "app"
    assert claims["oid"] == claims["sub"] == app.object_id
    assert "azp" not in claims


def test_v1_token_asked_for_by_client_id_has_the_client_id_as_audience(azure_emulator, azure_emulator_env, api):
    app = azure_emulator.register_app(secret="s3cret-value~2")
    azure_emulator.assign_role(api, app, "Orders.Read")
    result = msal_app(azure_emulator, app, app.secrets[0]).acquire_token_for_client([f"{api.app_id}/.default"])
    claims = verified_claims(azure_emulator, result["access_token"], audience=api.app_id, version=1)
    assert claims["roles"] == ["Orders.Read"]
    reply = v1_endpoint_token(azure_emulator, app, api.app_id_uri)
    assert reply.status_code == 200, reply.text
    assert reply.json()["resource"] == api.app_id_uri
    v1 = verified_claims(azure_emulator, reply.json()["access_token"], audience=api.app_id_uri, version=1)
    assert v1["roles"] == ["Orders.Read"]


def test_msal_certificate_v2_api_token_has_v2_claims(azure_emulator, azure_emulator_env, api_v2):
    certificate = ClientCertificate.generate()
    app = azure_emulator.register_app(certificate=certificate)
    azure_emulator.assign_role(api_v2, app, "Orders.Admin")
    credential = {"private_key": certificate.private_key_pem.decode(), "thumbprint": certificate.thumbprint_sha1}
    for scope in (f"{api_v2.app_id_uri}/.default", f"{api_v2.app_id}/.default"):
        result = msal_app(azure_emulator, app, credential).acquire_token_for_client([scope])
        assert "access_token" in result, result
        claims = verified_claims(azure_emulator, result["access_token"], audience=api_v2.app_id, version=2)
        assert claims["aud"] == api_v2.app_id  # v2: always the client id, whichever way it was asked for
        assert claims["iss"] == f"{azure_emulator.authority}{azure_emulator.tenant_id}/v2.0"
        assert claims["ver"] == "2.0"
        assert claims["azp"] == app.app_id
        assert claims["azpacr"] == "2"
        assert claims["roles"] == ["Orders.Admin"]
        assert {"appid", "appidacr", "idp"}.isdisjoint(claims)


def test_v2_api_from_the_v1_endpoint_is_still_a_v2_token(azure_emulator, azure_emulator_env, api_v2):
    app = azure_emulator.register_app(secret="s3cret-value~3")
    reply = v1_endpoint_token(azure_emulator, app, api_v2.app_id_uri)
    assert reply.status_code == 200, reply.text
    claims = verified_claims(azure_emulator, reply.json()["access_token"], audience=api_v2.app_id, version=2)
    assert claims["ver"] == "2.0"


def test_client_secret_credential_without_a_role_gets_no_roles_claim(azure_emulator, azure_emulator_env, api, api_v2):
    app = azure_emulator.register_app(secret="s3cret-value~4")
    credential = secret_credential(azure_emulator, app)
    v1 = verified_claims(
        azure_emulator, credential.get_token(f"{api.app_id_uri}/.default").token, audience=api.app_id_uri, version=1
    )
    v2 = verified_claims(
        azure_emulator, credential.get_token(f"{api_v2.app_id_uri}/.default").token, audience=api_v2.app_id, version=2
    )
    assert "roles" not in v1
    assert "roles" not in v2
    assert v1["appid"] == v2["azp"] == app.app_id


def test_roles_of_another_principal_do_not_leak(azure_emulator, azure_emulator_env, api):
    holder = azure_emulator.register_app(secret="s3cret-value~5")
    other = azure_emulator.register_app(secret="s3cret-value~6")
    azure_emulator.assign_role(api, holder, "Orders.Admin")
    token = secret_credential(azure_emulator, other).get_token(f"{api.app_id_uri}/.default").token
    assert "roles" not in verified_claims(azure_emulator, token, audience=api.app_id_uri, version=1)


def test_a_resource_that_is_no_registered_api_keeps_the_v1_token(azure_emulator, azure_emulator_env):
    app = azure_emulator.register_app(secret="s3cret-value~7")
    token = secret_credential(azure_emulator, app).get_token("https://storage.azure.com/.default").token
    claims = verified_claims(azure_emulator, token, audience="https://storage.azure.com", version=1)
    assert claims["appid"] == app.app_id
    assert "roles" not in claims


# --- an App ID URI the tenant does not have ---------------------------------------------------------------


def test_unknown_app_id_uri_is_aadsts500011_for_msal_and_the_v1_endpoint(azure_emulator, azure_emulator_env):
    app = azure_emulator.register_app(secret="s3cret-value~8")
    missing = unique_uri("nobody")
    result = msal_app(azure_emulator, app, app.secrets[0]).acquire_token_for_client([f"{missing}/.default"])
    assert result["error"] == "invalid_resource"
    assert result["error_codes"] == [500011]
    assert result["error_description"].startswith(
        f"AADSTS500011: The resource principal named {missing} was not found in the tenant named "
        f"{azure_emulator.tenant_id}."
    )
    reply = v1_endpoint_token(azure_emulator, app, missing)
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_resource"


def test_unknown_app_id_uri_is_a_client_authentication_error_in_azure_identity(azure_emulator, azure_emulator_env):
    app = azure_emulator.register_app(secret="s3cret-value~9")
    missing = unique_uri("nobody")
    with pytest.raises(
        ClientAuthenticationError, match=re.escape(f"AADSTS500011: The resource principal named {missing}")
    ):
        secret_credential(azure_emulator, app).get_token(f"{missing}/.default")


@pytest.mark.parametrize("host", ["app_service", "imds"])
def test_unknown_app_id_uri_from_a_managed_identity(azure_emulator, azure_emulator_env, monkeypatch, host):
    if host == "imds":
        monkeypatch.delenv("IDENTITY_ENDPOINT")
        monkeypatch.delenv("IDENTITY_HEADER")
    missing = unique_uri("nobody")
    with pytest.raises(ClientAuthenticationError, match="AADSTS500011"):
        ManagedIdentityCredential().get_token(f"{missing}/.default")
    assert azure_emulator.counters[f"mi.{host}"] >= 1


def test_unknown_app_id_uri_from_appauth_names_entras_error(azure_emulator, azure_emulator_env):
    from appauth_core import AzureServiceTokenProviderError

    missing = unique_uri("nobody")
    with pytest.raises(AzureServiceTokenProviderError, match="AADSTS500011"):
        AzureServiceTokenProvider("RunAs=App").get_access_token(missing)


# --- managed identities -------------------------------------------------------------------------------------


def test_managed_identity_app_service_v1_api_with_roles(azure_emulator, azure_emulator_env, api):
    identity = azure_emulator.directory.system_identity
    azure_emulator.assign_role(api, identity, "Orders.Read")
    token = ManagedIdentityCredential().get_token(f"{api.app_id_uri}/.default").token
    claims = verified_claims(azure_emulator, token, audience=api.app_id_uri, version=1)
    assert claims["appid"] == identity.client_id
    assert claims["appidacr"] == "2"
    assert claims["oid"] == identity.object_id
    assert claims["xms_mirid"] == identity.resource_id
    assert claims["roles"] == ["Orders.Read"]
    assert azure_emulator.counters["mi.app_service"] == 1


def test_managed_identity_imds_user_assigned_v2_api(azure_emulator, azure_emulator_env, monkeypatch, api_v2):
    monkeypatch.delenv("IDENTITY_ENDPOINT")
    monkeypatch.delenv("IDENTITY_HEADER")
    identity = azure_emulator.user_assigned_identity
    azure_emulator.assign_role(api_v2, identity, "Orders.Write")
    token = ManagedIdentityCredential(client_id=identity.client_id).get_token(f"{api_v2.app_id_uri}/.default").token
    claims = verified_claims(azure_emulator, token, audience=api_v2.app_id, version=2)
    assert claims["azp"] == identity.client_id
    assert claims["azpacr"] == "2"
    assert claims["ver"] == "2.0"
    assert claims["roles"] == ["Orders.Write"]
    assert azure_emulator.counters["mi.imds"] == 1
    # the system-assigned identity has no role on it
    system = ManagedIdentityCredential().get_token(f"{api_v2.app_id}/.default").token
    assert "roles" not in verified_claims(azure_emulator, system, audience=api_v2.app_id, version=2)


def test_appauth_provider_gets_the_api_token_from_the_managed_identity(azure_emulator, azure_emulator_env, api):
    azure_emulator.assign_role(api, azure_emulator.directory.system_identity, "Orders.Admin")
    token = AzureServiceTokenProvider("RunAs=App").get_access_token(api.app_id_uri)
    assert verified_claims(azure_emulator, token, audience=api.app_id_uri, version=1)["roles"] == ["Orders.Admin"]


# --- tenants ------------------------------------------------------------------------------------------------


@pytest.fixture
def other_tenant(azure_emulator: AzureEmulator) -> str:
    return azure_emulator.add_tenant().tenant_id


def test_second_tenant_apps_get_that_tenants_tokens(azure_emulator, azure_emulator_env, other_tenant):
    app = azure_emulator.register_app(secret="s3cret-value~10", tenant_id=other_tenant)
    v1_api = azure_emulator.register_api(unique_uri(), roles=ROLES, tenant_id=other_tenant)
    v2_api = azure_emulator.register_api(unique_uri(), roles=ROLES, tenant_id=other_tenant, version=2)
    azure_emulator.assign_role(v2_api, app, "Orders.Read")
    cca = msal_app(azure_emulator, app, app.secrets[0])
    v1 = cca.acquire_token_for_client([f"{v1_api.app_id_uri}/.default"])["access_token"]
    v2 = cca.acquire_token_for_client([f"{v2_api.app_id_uri}/.default"])["access_token"]
    v1_claims = verified_claims(azure_emulator, v1, audience=v1_api.app_id_uri, version=1)
    v2_claims = verified_claims(azure_emulator, v2, audience=v2_api.app_id, version=2)
    assert v1_claims["tid"] == v2_claims["tid"] == other_tenant
    assert v1_claims["iss"] == f"https://sts.windows.net/{other_tenant}/"
    assert v2_claims["iss"] == f"{azure_emulator.authority}{other_tenant}/v2.0"
    assert v2_claims["roles"] == ["Orders.Read"]
    # The home tenant's document names another issuer: a validator pinned to it refuses this token.
    with pytest.raises(jwt.InvalidIssuerError):
        verified_claims(azure_emulator, v2, audience=v2_api.app_id, version=2, tenant=azure_emulator.tenant_id)


def test_an_api_of_one_tenant_is_not_found_from_another(azure_emulator, azure_emulator_env, other_tenant, api):
    app = azure_emulator.register_app(secret="s3cret-value~11", tenant_id=other_tenant)
    result = msal_app(azure_emulator, app, app.secrets[0]).acquire_token_for_client([f"{api.app_id_uri}/.default"])
    assert result["error_codes"] == [500011]
    assert f"was not found in the tenant named {other_tenant}" in result["error_description"]
    with pytest.raises(ValueError, match="not in tenant"):
        azure_emulator.assign_role(api, app, "Orders.Read")


def test_a_multi_tenant_api_is_reached_from_every_tenant(azure_emulator, azure_emulator_env, other_tenant):
    api = azure_emulator.register_api(unique_uri(), roles=ROLES, version=2, multi_tenant=True)
    guest = azure_emulator.register_app(secret="s3cret-value~12", tenant_id=other_tenant)
    azure_emulator.assign_role(api, guest, "Orders.Read")
    token = secret_credential(azure_emulator, guest).get_token(f"{api.app_id_uri}/.default").token
    # checked with the multi-tenant document, whose issuer is a template
    for segment in ("common", "organizations"):
        claims = verified_claims(azure_emulator, token, audience=api.app_id, version=2, tenant=segment)
        assert claims["tid"] == other_tenant
        assert claims["iss"] == f"{azure_emulator.authority}{other_tenant}/v2.0"
        assert claims["roles"] == ["Orders.Read"]


@pytest.mark.parametrize("segment", ["common", "organizations"])
def test_multi_tenant_discovery_publishes_the_issuer_template(azure_emulator, segment):
    v2 = discovery(azure_emulator, segment, version=2)
    v1 = discovery(azure_emulator, segment, version=1)
    assert v2["issuer"] == f"{azure_emulator.authority}{{tenantid}}/v2.0"
    assert v1["issuer"] == "https://sts.windows.net/{tenantid}/"
    assert v2["token_endpoint"] == f"{azure_emulator.authority}{segment}/oauth2/v2.0/token"
    assert v2["jwks_uri"] == f"{azure_emulator.authority}{segment}/discovery/v2.0/keys"
    published = {key.key_id for key in jwks_client(azure_emulator, v2["jwks_uri"]).get_signing_keys()}
    assert published == set(azure_emulator.issuer.kids)


def test_every_tenant_publishes_discovery_and_keys(azure_emulator, other_tenant):
    for tenant in (azure_emulator.tenant_id, other_tenant):
        document = discovery(azure_emulator, tenant, version=2)
        assert document["issuer"] == f"{azure_emulator.authority}{tenant}/v2.0"
        assert document["jwks_uri"] == f"{azure_emulator.authority}{tenant}/discovery/v2.0/keys"
        assert {k.key_id for k in jwks_client(azure_emulator, document["jwks_uri"]).get_signing_keys()} == set(
            azure_emulator.issuer.kids
        )
        assert discovery(azure_emulator, tenant, version=1)["issuer"] == f"https://sts.windows.net/{tenant}/"


# --- delegated (user) tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_user_tokens_carry_scopes_and_the_user(azure_emulator, version):
    api = azure_emulator.register_api(unique_uri(), roles=ROLES, version=version)
    token = azure_emulator.issue_user_token(api, scopes=("Orders.Read", "Orders.Write"), user="alice@contoso.test")
    audience = api.app_id if version == 2 else api.app_id_uri
    claims = verified_claims(azure_emulator, token, audience=audience, version=version)
    assert claims["scp"] == "Orders.Read Orders.Write"
    assert claims["idtyp"] == "user"
    assert claims["upn"] == "alice@contoso.test"
    assert claims["sub"] != claims["oid"]
    assert "roles" not in claims
    client = azure_emulator.app.app_id
    assert (claims["azp"] if version == 2 else claims["appid"]) == client
    again = jwt.decode(
        azure_emulator.issue_user_token(api, user="alice@contoso.test"), options={"verify_signature": False}
    )
    assert again["oid"] == claims["oid"]  # the same user
    assert again["scp"] == "user_impersonation"


def test_user_token_in_another_tenant_with_app_roles(azure_emulator, other_tenant):
    api = azure_emulator.register_api(unique_uri(), roles=ROLES, version=2, multi_tenant=True)
    token = azure_emulator.issue_user_token(api, tenant_id=other_tenant, roles=("Orders.Read",), version=1)
    claims = verified_claims(azure_emulator, token, audience=api.app_id_uri, version=1)
    assert claims["tid"] == other_tenant
    assert claims["roles"] == ["Orders.Read"]
    assert claims["scp"] == "user_impersonation"


def test_user_token_arguments_are_checked(azure_emulator, api):
    with pytest.raises(ValueError, match="scopes"):
        azure_emulator.issue_user_token(api, scopes=())
    with pytest.raises(ValueError, match="scopes"):
        azure_emulator.issue_user_token(api, scopes=("Orders.Read Orders.Write",))
    with pytest.raises(ValueError, match="no tenant"):
        azure_emulator.issue_user_token(api, tenant_id=str(uuid.uuid4()))


# --- registrations and assignments ----------------------------------------------------------------------------


def test_registration_mistakes_are_value_errors(azure_emulator, api):
    with pytest.raises(ValueError, match="already exists"):
        azure_emulator.register_api(api.app_id_uri)
    with pytest.raises(ValueError, match="must be 1 or 2"):
        azure_emulator.register_api(unique_uri(), version=3)
    with pytest.raises(ValueError, match="roles"):
        azure_emulator.register_api(unique_uri(), roles=("Orders.Read", "Orders.Read"))
    with pytest.raises(ValueError, match="not one string"):
        azure_emulator.register_api(unique_uri(), roles="Orders.Read")
    with pytest.raises(ValueError, match="app_id_uri"):
        azure_emulator.register_api("api://orders/.default")
    with pytest.raises(ValueError, match=r"no app role 'Orders\.Delete'"):
        azure_emulator.assign_role(api, azure_emulator.app, "Orders.Delete")
    with pytest.raises(ValueError, match="no tenant"):
        azure_emulator.register_api(unique_uri(), tenant_id=str(uuid.uuid4()))


def test_an_app_id_uri_is_per_tenant(azure_emulator, other_tenant, api):
    twin = azure_emulator.register_api(api.app_id_uri, tenant_id=other_tenant)
    assert twin.app_id != api.app_id
    assert twin.tenant_id == other_tenant


def test_issue_token_and_listeners_see_the_api_claims(azure_emulator, api_v2):
    identity = azure_emulator.directory.system_identity
    azure_emulator.assign_role(api_v2, identity, "Orders.Read")
    seen: list[dict[str, object]] = []
    remove = azure_emulator.on_token_issued(lambda claims, issued: seen.append(claims))
    try:
        direct = azure_emulator.issue_token(api_v2.app_id_uri, identity=identity)
        user = azure_emulator.issue_user_token(api_v2)
    finally:
        remove()
    claims = verified_claims(azure_emulator, direct.access_token, audience=api_v2.app_id, version=2)
    assert claims["roles"] == ["Orders.Read"]
    assert [c["aud"] for c in seen] == [api_v2.app_id, api_v2.app_id]
    assert seen[1]["scp"] == jwt.decode(user, options={"verify_signature": False})["scp"]
    # A forged audience for a test stays possible: an App ID URI no API has is echoed, as a v1 token.
    stray = azure_emulator.issue_token("api://not-registered-anywhere")
    assert verified_claims(azure_emulator, stray.access_token, audience="api://not-registered-anywhere", version=1)
