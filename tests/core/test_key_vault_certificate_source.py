"""KeyVaultCertificateSource: the certificate's PFX read from the emulated vault with SecretClient, then a
certificate sign-in at the emulated Entra ID."""

from __future__ import annotations

import base64
import datetime as dt
import json
import traceback

import pytest
import requests
from azure.core.credentials import AccessToken, AccessTokenInfo

from appauth_core.errors import AzureServiceTokenProviderError, ConnectionStringError
from appauth_core.tokens.sources._base import SourceToken, TokenRequest, TokenSource
from appauth_core.tokens.sources._client_secret import ClientSecretSource
from appauth_core.tokens.sources._key_vault_certificate import (
    KeyVaultCertificateSource,
    TokenSourceCredential,
    parse_secret_identifier,
)
from tests.core.test_certificate_source import NOW, make_certificate, pfx_bytes

VAULT = "https://vault.azure.net"
STORAGE = "https://storage.azure.com"
PKCS12 = "application/x-pkcs12"


class AppServiceIdentity:
    """A minimal real TokenSource: the emulator's App Service managed-identity endpoint over requests."""

    name = "App Service identity (test)"
    cache_identity = "msi:test"

    def __init__(self, emulator) -> None:
        env = emulator.app_service_env()
        self.endpoint, self.header = env["IDENTITY_ENDPOINT"], env["IDENTITY_HEADER"]

    def get_token(self, request: TokenRequest) -> SourceToken:
        reply = requests.get(
            self.endpoint,
            params={"resource": request.resource, "api-version": "2019-08-01"},
            headers={"X-IDENTITY-HEADER": self.header},
            timeout=10,
        )
        reply.raise_for_status()
        body = reply.json()
        return SourceToken(body["access_token"], float(body["expires_on"]))


class FailingIdentity:
    name = "Broken identity (test)"
    cache_identity = "broken"

    def get_token(self, request: TokenRequest) -> SourceToken:
        raise AzureServiceTokenProviderError("no identity endpoint here")


def _store(emulator, cert, name: str, *, content_type: str | None = PKCS12) -> str:
    """Put the certificate's PFX in the vault as Key Vault keeps a certificate; its identifier."""
    value = base64.b64encode(pfx_bytes(cert)).decode()
    version = emulator.vault.set_secret(name, value, content_type=content_type)
    return f"{emulator.vault.url}secrets/{name}/{version.version}"


def _request(emulator, resource: str = VAULT, tenant_id: str | None = None) -> TokenRequest:
    return TokenRequest(resource, tenant_id=tenant_id, authority_host=emulator.authority)


def _get_count(emulator) -> int:
    return emulator.counters[f"keyvault.{emulator.vault.name}.get_secret"]


def test_signs_in_with_the_certificate_from_key_vault(azure_emulator, azure_emulator_env):
    cert = make_certificate("kv-cert")
    app = azure_emulator.register_app(certificate=cert)
    identifier = _store(azure_emulator, cert, "app-cert")
    source = KeyVaultCertificateSource(app.app_id, identifier, vault_token_source=AppServiceIdentity(azure_emulator))
    token = source.get_token(_request(azure_emulator))
    claims = azure_emulator.issuer.verify(token.access_token)
    assert claims["appid"] == app.app_id
    assert claims["appidacr"] == "2"
    assert claims["tid"] == azure_emulator.tenant_id  # no TenantId: the tenant of the Key Vault token
    assert claims["aud"] == VAULT
    storage = source.get_token(_request(azure_emulator, STORAGE))
    assert azure_emulator.issuer.verify(storage.access_token)["aud"] == STORAGE
    assert _get_count(azure_emulator) == 1  # the certificate is read once for the source's lifetime
    assert isinstance(source, TokenSource)
    assert source.name == "Service principal (Key Vault certificate)"
    assert source.cache_identity.startswith(f"app:{app.app_id}:")
    assert source.cache_identity.endswith(f":keyvault-cert:{source.secret_identifier}")


def test_latest_version_and_a_client_secret_vault_identity(azure_emulator, azure_emulator_env):
    cert = make_certificate("kv-latest")
    app = azure_emulator.register_app(certificate=cert)
    _store(azure_emulator, cert, "latest-cert")
    reader = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, azure_emulator.app.secrets[0])
    source = KeyVaultCertificateSource(
        app.app_id, f"{azure_emulator.vault.url}secrets/latest-cert", vault_token_source=reader
    )
    token = source.get_token(_request(azure_emulator))
    assert azure_emulator.issuer.verify(token.access_token)["appid"] == app.app_id


def test_tenant_setting_and_request_tenant_win_over_the_vault_tokens(azure_emulator, azure_emulator_env):
    other = azure_emulator.directory.add_tenant()
    cert = make_certificate("kv-other-tenant")
    app = azure_emulator.register_app(certificate=cert, tenant_id=other.tenant_id)
    identifier = _store(azure_emulator, cert, "other-tenant-cert")
    identity = AppServiceIdentity(azure_emulator)
    configured = KeyVaultCertificateSource(
        app.app_id, identifier, tenant_id=other.tenant_id, vault_token_source=identity
    )
    assert azure_emulator.issuer.verify(configured.get_token(_request(azure_emulator)).access_token)["tid"] == (
        other.tenant_id
    )
    defaulted = KeyVaultCertificateSource(app.app_id, identifier, vault_token_source=identity)
    token = defaulted.get_token(_request(azure_emulator, tenant_id=other.tenant_id))
    assert azure_emulator.issuer.verify(token.access_token)["tid"] == other.tenant_id


def test_rotated_certificate_is_fetched_again_once(azure_emulator, azure_emulator_env):
    old, new = make_certificate("kv-rotate"), make_certificate("kv-rotate")
    app = azure_emulator.register_app(certificate=old)
    _store(azure_emulator, old, "rotating-cert")
    identifier = f"{azure_emulator.vault.url}secrets/rotating-cert"
    source = KeyVaultCertificateSource(app.app_id, identifier, vault_token_source=AppServiceIdentity(azure_emulator))
    source.get_token(_request(azure_emulator))
    _store(azure_emulator, new, "rotating-cert")  # rotated in Key Vault ...
    app.certificates[:] = [new.certificate]  # ... and on the app, the old one removed
    token = source.get_token(_request(azure_emulator))
    assert azure_emulator.issuer.verify(token.access_token)["appid"] == app.app_id
    assert _get_count(azure_emulator) == 2


def test_refused_certificate_that_did_not_change_is_reported(azure_emulator, azure_emulator_env):
    stored, registered = make_certificate("kv-refused"), make_certificate("kv-refused")
    app = azure_emulator.register_app(certificate=registered)
    identifier = _store(azure_emulator, stored, "refused-cert")
    source = KeyVaultCertificateSource(app.app_id, identifier, vault_token_source=AppServiceIdentity(azure_emulator))
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        source.get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "AADSTS700027" in message
    assert f"certificate with thumbprint {stored.thumbprint_sha1}" in message
    assert _get_count(azure_emulator) == 2  # fetched again once, found the same certificate, gave up
    assert "PRIVATE KEY" not in message


# --- what the secret holds ---------------------------------------------------------------------------


def test_wrong_content_type_is_explained(azure_emulator, azure_emulator_env):
    cert = make_certificate("kv-pem")
    app = azure_emulator.register_app(certificate=cert)
    identifier = _store(azure_emulator, cert, "text-cert", content_type="text/plain")
    source = KeyVaultCertificateSource(app.app_id, identifier, vault_token_source=AppServiceIdentity(azure_emulator))
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        source.get_token(_request(azure_emulator))
    message = str(raised.value)
    assert message.startswith(
        "Tried to get token using Service principal (Key Vault certificate). "
        "Specified Key Vault certificate was unable to be retrieved."
    )
    assert "The secret's content type is 'text/plain', not 'application/x-pkcs12'" in message
    assert azure_emulator.counters["entra.token"] == 0


def test_value_that_is_not_a_usable_pfx(azure_emulator, azure_emulator_env):
    identity = AppServiceIdentity(azure_emulator)
    azure_emulator.vault.set_secret("not-base64", "%%%", content_type=PKCS12)
    source = KeyVaultCertificateSource(
        "app", f"{azure_emulator.vault.url}secrets/not-base64", vault_token_source=identity
    )
    with pytest.raises(AzureServiceTokenProviderError, match="The secret's value is not base64"):
        source.get_token(_request(azure_emulator))
    keyless = base64.b64encode(pfx_bytes(make_certificate("kv-keyless"), with_key=False)).decode()
    azure_emulator.vault.set_secret("keyless", keyless, content_type=PKCS12)
    source = KeyVaultCertificateSource("app", f"{azure_emulator.vault.url}secrets/keyless", vault_token_source=identity)
    with pytest.raises(AzureServiceTokenProviderError, match="cannot be used: no private key"):
        source.get_token(_request(azure_emulator))


def test_expired_certificate_in_the_vault_is_refused(azure_emulator, azure_emulator_env):
    expired = make_certificate(
        "kv-expired", not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=1)
    )
    identifier = _store(azure_emulator, expired, "expired-cert")
    source = KeyVaultCertificateSource("app", identifier, vault_token_source=AppServiceIdentity(azure_emulator))
    with pytest.raises(AzureServiceTokenProviderError, match=f"certificate {expired.thumbprint_sha1} .* expired on"):
        source.get_token(_request(azure_emulator))


# --- reading the vault ---------------------------------------------------------------------------------


def test_missing_secret_names_the_setting(azure_emulator, azure_emulator_env):
    source = KeyVaultCertificateSource(
        "app", f"{azure_emulator.vault.url}secrets/no-such-cert", vault_token_source=AppServiceIdentity(azure_emulator)
    )
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        source.get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "Key Vault answered 404: A secret with (name/id) no-such-cert was not found" in message
    assert "Check the name (and version) in KeyVaultCertificateSecretIdentifier." in message


def test_identity_without_access_is_told_what_permission_to_get(azure_emulator, azure_emulator_env):
    outsider = azure_emulator.register_app(secret="outsider-secret-value", vault_permissions=None)
    reader = ClientSecretSource(outsider.app_id, azure_emulator.tenant_id, "outsider-secret-value")
    cert = make_certificate("kv-forbidden")
    identifier = _store(azure_emulator, cert, "forbidden-cert")
    source = KeyVaultCertificateSource("app", identifier, vault_token_source=reader)
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        source.get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "Key Vault answered 403" in message
    assert "does not have secrets get permission" in message
    assert "'Key Vault Secrets User' role" in message
    assert "outsider-secret-value" not in message


@pytest.mark.parametrize(
    ("status", "tail", "said"),
    [
        (200, "}}not json", "Key Vault answered 200: JSON is invalid"),  # a reply corrupted on the way
        (203, "", "Key Vault answered 203"),  # a proxy's "non-authoritative" copy of the reply
    ],
    ids=["corrupted-200", "unexpected-status"],
)
def test_a_vault_reply_that_cannot_be_used_never_shows_the_certificate_in_a_traceback(
    azure_emulator, azure_emulator_env, status, tail, said
):
    """azure-core's HttpResponseError prints up to 2 KB of the reply's body ("Content: ..."): chained to our
    error, it would print the PFX (the private key) in every traceback when the body is the secret itself."""
    cert = make_certificate("kv-leak")
    app = azure_emulator.register_app(certificate=cert)
    identifier = _store(azure_emulator, cert, "leak-cert")
    pfx = base64.b64encode(pfx_bytes(cert)).decode()
    bundle = json.dumps({"value": pfx, "id": identifier, "contentType": PKCS12})
    azure_emulator.faults.inject(
        f"keyvault.{azure_emulator.vault.name}.get_secret",
        status=status,
        body=bundle + tail,
        headers={"Content-Type": "application/json"},
    )
    source = KeyVaultCertificateSource(app.app_id, identifier, vault_token_source=AppServiceIdentity(azure_emulator))
    with pytest.raises(AzureServiceTokenProviderError, match=said) as raised:
        source.get_token(_request(azure_emulator))
    printed = "".join(traceback.format_exception(raised.value))
    pieces = [pfx[i : i + 32] for i in range(0, len(pfx) - 32, 16)]
    assert not any(piece in printed for piece in pieces)


def test_no_vault_token_says_which_source_failed(azure_emulator, azure_emulator_env):
    identifier = f"{azure_emulator.vault.url}secrets/whatever"
    source = KeyVaultCertificateSource("app", identifier, vault_token_source=FailingIdentity())
    with pytest.raises(AzureServiceTokenProviderError) as raised:
        source.get_token(_request(azure_emulator))
    assert "No Key Vault access token from Broken identity (test): no identity endpoint here" in str(raised.value)


# --- the identifier ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "problem"),
    [
        ("not a uri", "Specified secret identifier is not a valid URI."),
        ("vault.azure.net/secrets/x", "Specified secret identifier is not a valid URI."),
        ("http://contoso.vault.azure.net/secrets/app-cert", "Specified identifier must use HTTPS."),
        ("https://contoso.vault.azure.net/keys/app-cert", "Specified identifier is not a secret identifier."),
        ("https://contoso.vault.azure.net/secrets/", "Specified identifier is not a secret identifier."),
        ("https://contoso.vault.azure.net/secrets/a/b/c", "Specified identifier is not a secret identifier."),
    ],
)
def test_bad_identifiers_are_refused_like_dotnet(identifier, problem):
    with pytest.raises(ConnectionStringError) as raised:
        KeyVaultCertificateSource("app", identifier, vault_token_source=FailingIdentity())
    message = str(raised.value)
    assert message.startswith(f"Specified Key Vault certificate was unable to be retrieved. {problem}")
    assert "expected https://<vault name>.vault.azure.net/secrets/<certificate name>[/<version>]" in message
    assert raised.value.key == "KeyVaultCertificateSecretIdentifier"
    assert isinstance(raised.value, ValueError)


def test_identifier_parts():
    versioned = parse_secret_identifier("https://contoso.vault.azure.net/secrets/app-cert/0123abcd")
    assert (versioned.origin.url, versioned.name, versioned.version) == (
        "https://contoso.vault.azure.net/",
        "app-cert",
        "0123abcd",
    )
    latest = parse_secret_identifier("https://127.0.0.1:8443/secrets/app-cert/")
    assert (latest.origin.url, latest.name, latest.version, latest.origin.is_loopback) == (
        "https://127.0.0.1:8443/",
        "app-cert",
        None,
        True,
    )


@pytest.mark.parametrize(
    "identifier",
    [
        "https://user:Qz8vKx2Lw9Mj@contoso.vault.azure.net/secrets/app-cert",  # credentials would reach the client
        "https://contoso.vault.azure.net/secrets/app-cert?api-version=7.4",
        "https://contoso.vault.azure.net/secrets/app-cert#latest",
    ],
)
def test_an_identifier_a_vault_url_cannot_be_is_refused(identifier):
    with pytest.raises(ConnectionStringError) as raised:
        KeyVaultCertificateSource("app", identifier, vault_token_source=FailingIdentity())
    assert "Specified secret identifier is not a valid URI." in str(raised.value)
    assert "Qz8vKx2Lw9Mj" not in str(raised.value)  # a password in the URL is not quoted back


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("[::1]", True),
        ("LOCALHOST", True),
        ("contoso.vault.azure.net", False),
        ("10.0.0.1", False),
    ],
)
def test_challenge_resource_is_checked_except_for_local_vaults(host, local):
    assert parse_secret_identifier(f"https://{host}/secrets/app-cert").origin.is_loopback is local


def test_credential_adapter_speaks_azure_core(azure_emulator, azure_emulator_env):
    credential = TokenSourceCredential(AppServiceIdentity(azure_emulator), azure_emulator.authority)
    token = credential.get_token(VAULT + "/.default")
    assert isinstance(token, AccessToken)
    assert azure_emulator.issuer.verify(token.token)["aud"] == VAULT
    info = credential.get_token_info(VAULT + "/.default", options={"tenant_id": azure_emulator.tenant_id})
    assert isinstance(info, AccessTokenInfo)
    assert info.token_type == "Bearer"
    assert info.expires_on > NOW.timestamp()
    assert credential.token_tenant == credential.challenge_tenant == azure_emulator.tenant_id
    with pytest.raises(ValueError, match="exactly one scope"):
        credential.get_token(VAULT + "/.default", STORAGE + "/.default")
