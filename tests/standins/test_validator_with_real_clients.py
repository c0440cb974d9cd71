"""TokenValidator accepts the tokens real clients get from the emulator for a registered API: msal's
ConfidentialClientApplication (secret, certificate; v1 and v2 APIs), azure-identity's ClientSecretCredential
and ManagedIdentityCredential (App Service, IMDS with a user-assigned identity) and appauth's own provider;
and refuses them where the API's configuration says so (another API, a caller not allowed, a missing role).
The validator fetches the metadata itself, over HTTPS, trusting the emulator's CA as the environment says."""

from __future__ import annotations

import uuid

import msal
import pytest
from azure.identity import ClientSecretCredential, ManagedIdentityCredential

from appauth_core import AzureServiceTokenProvider, InsufficientScopeError, TokenValidationError, TokenValidator
from appauth_core.testing import ApiRegistration, AppRegistration, AzureEmulator, ClientCertificate

ROLES = ("Orders.Read", "Orders.Write")

pytestmark = pytest.mark.usefixtures("azure_emulator_env")


def register(emulator: AzureEmulator, version: int) -> ApiRegistration:
    return emulator.register_api(f"api://orders-{uuid.uuid4().hex[:10]}", roles=ROLES, version=version)


def validator(emulator: AzureEmulator, api: ApiRegistration, **kwargs: object) -> TokenValidator:
    return TokenValidator(
        [api.app_id_uri, api.app_id], tenant_id=emulator.tenant_id, authority=emulator.authority, **kwargs
    )


def msal_token(emulator: AzureEmulator, app: AppRegistration, credential: object, scope: str) -> str:
    client = msal.ConfidentialClientApplication(
        app.app_id,
        client_credential=credential,
        authority=f"{emulator.authority}{app.tenant_id}",
        instance_discovery=False,
        validate_authority=False,
        token_cache=msal.TokenCache(),
    )
    result = client.acquire_token_for_client([scope])
    assert "access_token" in result, result
    token: str = result["access_token"]
    return token


@pytest.mark.parametrize("version", [1, 2])
def test_msal_client_secret_tokens_are_accepted_with_their_roles(azure_emulator: AzureEmulator, version: int) -> None:
    api = register(azure_emulator, version)
    app = azure_emulator.register_app(secret="s3cret-value~v")
    azure_emulator.assign_role(api, app, "Orders.Read")
    token = msal_token(azure_emulator, app, app.secrets[0], f"{api.app_id_uri}/.default")

    caller = validator(azure_emulator, api).validate(token, roles=["Orders.Read"])

    assert (caller.client_id, caller.object_id, caller.version) == (app.app_id, app.object_id, f"{version}.0")
    assert caller.is_app and caller.roles == frozenset({"Orders.Read"})
    with pytest.raises(InsufficientScopeError):
        validator(azure_emulator, api).validate(token, roles=["Orders.Write"])


def test_msal_certificate_token_for_the_client_id_is_accepted(azure_emulator: AzureEmulator) -> None:
    api = register(azure_emulator, 2)
    certificate = ClientCertificate.generate()
    app = azure_emulator.register_app(certificate=certificate)
    credential = {"private_key": certificate.private_key_pem.decode(), "thumbprint": certificate.thumbprint_sha1}
    token = msal_token(azure_emulator, app, credential, f"{api.app_id}/.default")

    caller = validator(azure_emulator, api, allowed_client_ids=[app.app_id]).validate(token)

    assert caller.client_id == app.app_id and caller.claims["azpacr"] == "2"  # a certificate


def test_azure_identity_client_secret_credential_token_is_accepted(azure_emulator: AzureEmulator) -> None:
    api = register(azure_emulator, 1)
    app = azure_emulator.register_app(secret="s3cret-value~c")
    credential = ClientSecretCredential(
        app.tenant_id, app.app_id, app.secrets[0], authority=azure_emulator.authority, disable_instance_discovery=True
    )
    token = credential.get_token(f"{api.app_id_uri}/.default").token

    caller = validator(azure_emulator, api).validate(token)

    assert caller.client_id == app.app_id and caller.roles == frozenset()  # no role assigned: no roles claim


def test_managed_identity_tokens_from_app_service_and_imds_are_accepted(
    azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = register(azure_emulator, 2)
    system = azure_emulator.directory.system_identity
    user_assigned = azure_emulator.user_assigned_identity
    azure_emulator.assign_role(api, system, "Orders.Write")
    azure_emulator.assign_role(api, user_assigned, "Orders.Read")
    checker = validator(azure_emulator, api)

    app_service = ManagedIdentityCredential().get_token(f"{api.app_id_uri}/.default").token
    monkeypatch.delenv("IDENTITY_ENDPOINT")
    monkeypatch.delenv("IDENTITY_HEADER")
    imds = ManagedIdentityCredential(client_id=user_assigned.client_id).get_token(f"{api.app_id}/.default").token

    by_system = checker.validate(app_service, roles=["Orders.Write"])
    by_user = checker.validate(imds, roles=["Orders.Read"])
    assert (by_system.client_id, by_system.object_id) == (system.client_id, system.object_id)
    assert (by_user.client_id, by_user.object_id) == (user_assigned.client_id, user_assigned.object_id)
    assert azure_emulator.counters["mi.app_service"] == 1 and azure_emulator.counters["mi.imds"] == 1


def test_appauths_own_provider_token_is_accepted(azure_emulator: AzureEmulator) -> None:
    api = register(azure_emulator, 1)
    azure_emulator.assign_role(api, azure_emulator.directory.system_identity, "Orders.Read")
    token = AzureServiceTokenProvider("RunAs=App").get_access_token(api.app_id_uri)

    assert validator(azure_emulator, api).validate(token, roles="Orders.Read").version == "1.0"


def test_a_real_token_for_another_api_or_from_a_caller_not_allowed_is_refused(azure_emulator: AzureEmulator) -> None:
    orders, billing = register(azure_emulator, 1), register(azure_emulator, 2)
    app = azure_emulator.register_app(secret="s3cret-value~r")
    for_billing = msal_token(azure_emulator, app, app.secrets[0], f"{billing.app_id_uri}/.default")
    for_orders = msal_token(azure_emulator, app, app.secrets[0], f"{orders.app_id_uri}/.default")

    with pytest.raises(TokenValidationError, match="audience") as wrong_api:
        validator(azure_emulator, orders).validate(for_billing)
    assert wrong_api.value.status == 401
    with pytest.raises(TokenValidationError, match="not one of the allowed client ids"):
        validator(azure_emulator, orders, allowed_client_ids=[str(uuid.uuid4())]).validate(for_orders)
