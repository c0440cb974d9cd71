"""ClientSecretSource against the emulated Entra ID: real msal, real HTTP on loopback."""

from __future__ import annotations

import socket
import time

import pytest

from appauth_core.errors import AzureServiceTokenProviderError
from appauth_core.tokens.sources._base import TokenRequest, TokenSource
from appauth_core.tokens.sources._client_secret import ClientSecretSource
from appauth_core.tokens.sources._confidential_client import (
    Credential,
    FailureContext,
    TokenEndpointError,
    describe_error_reply,
    scrub,
)

VAULT = "https://vault.azure.net"


def _request(emulator, resource: str = VAULT, tenant_id: str | None = None) -> TokenRequest:
    return TokenRequest(resource, tenant_id=tenant_id, authority_host=emulator.authority)


def test_gets_a_token_the_emulator_signed(azure_emulator, azure_emulator_env):
    source = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, azure_emulator.app.secrets[0])
    before = time.time()
    token = source.get_token(_request(azure_emulator))
    claims = azure_emulator.issuer.verify(token.access_token)
    assert claims["aud"] == VAULT
    assert claims["appid"] == azure_emulator.app.app_id
    assert claims["tid"] == azure_emulator.tenant_id
    assert claims["appidacr"] == "1"
    assert token.token_type == "Bearer"
    assert before + 3000 < token.expires_on <= time.time() + 3600
    assert isinstance(source, TokenSource)
    assert source.name == "Service principal (client secret)"
    assert source.cache_identity.startswith(
        f"app:{azure_emulator.app.app_id}:{azure_emulator.tenant_id}:secret:sha256:"
    )
    assert azure_emulator.app.secrets[0] not in source.cache_identity
    # Another secret for the same app is another cache identity: a wrong AppKey never borrows a good token.
    other = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, "another-secret")
    assert other.cache_identity != source.cache_identity


def test_one_msal_app_per_authority_and_every_call_reaches_entra(azure_emulator, azure_emulator_env):
    """The provider's cache is the only cache: it calls the source on a miss or for force_refresh, and then
    a token msal had kept would be the wrong answer."""
    source = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, azure_emulator.app.secrets[0])
    first = source.get_token(_request(azure_emulator))
    second = source.get_token(_request(azure_emulator))
    assert first.access_token != second.access_token
    assert azure_emulator.counters["entra.discovery"] == 1  # the msal app (and its discovery) is reused
    assert azure_emulator.counters["entra.token"] == 2


def test_repr_and_errors_never_show_the_secret(azure_emulator, azure_emulator_env):
    secret = "wrong-secret-value-" + "x" * 20
    source = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, secret)
    assert secret not in repr(source)
    assert azure_emulator.app.app_id in repr(source)
    with pytest.raises(TokenEndpointError) as raised:
        source.get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "AADSTS7000215" in message
    assert "use the client secret's value, not its ID" in message
    assert secret not in message
    assert raised.value.error == "invalid_client"
    assert raised.value.error_codes == (7000215,)
    assert raised.value.method == source.name
    assert raised.value.resource == VAULT
    assert raised.value.authority == f"{azure_emulator.authority}{azure_emulator.tenant_id}"
    assert "Trace ID:" in message


def test_a_short_secret_does_not_mangle_the_hint(azure_emulator, azure_emulator_env):
    source = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, "wrong")
    with pytest.raises(TokenEndpointError, match="The AppKey is wrong or expired"):
        source.get_token(_request(azure_emulator))


def test_outside_text_is_scrubbed_of_the_secret():
    credential = Credential(key="secret", label="client secret", value="hunter2-secret")
    assert scrub("echoed hunter2-secret back", credential) == "echoed <<Redacted>> back"
    certificate = Credential(key="cert:AB", label="certificate", value={"private_key": "k", "thumbprint": "AB"})
    assert scrub("text", certificate) == "text"


def test_unknown_app_is_named_with_its_tenant(azure_emulator, azure_emulator_env):
    app_id = "11111111-2222-3333-4444-555555555555"
    source = ClientSecretSource(app_id, azure_emulator.tenant_id, "anything")
    with pytest.raises(TokenEndpointError) as raised:
        source.get_token(_request(azure_emulator))
    message = str(raised.value)
    assert "AADSTS700016" in message
    assert f"AppId {app_id} not found in tenant {azure_emulator.tenant_id}" in message


def test_request_tenant_overrides_the_configured_one(azure_emulator, azure_emulator_env):
    other = azure_emulator.directory.add_tenant()
    app = azure_emulator.register_app(secret="other-tenant-secret", tenant_id=other.tenant_id)
    source = ClientSecretSource(app.app_id, azure_emulator.tenant_id, "other-tenant-secret")
    with pytest.raises(TokenEndpointError, match="AADSTS700016"):
        source.get_token(_request(azure_emulator))  # the app is not in the configured (home) tenant
    token = source.get_token(_request(azure_emulator, tenant_id=other.tenant_id))
    claims = azure_emulator.issuer.verify(token.access_token)
    assert claims["tid"] == other.tenant_id
    assert claims["appid"] == app.app_id


def test_unknown_tenant_says_which(azure_emulator, azure_emulator_env):
    tenant = "00000000-0000-0000-0000-00000000dead"
    source = ClientSecretSource(azure_emulator.app.app_id, tenant, azure_emulator.app.secrets[0])
    with pytest.raises(TokenEndpointError) as raised:
        source.get_token(_request(azure_emulator))
    assert f"Tenant {tenant} not found: check TenantId" in str(raised.value)
    assert azure_emulator.app.secrets[0] not in str(raised.value)


def test_invalid_tenant_is_refused_before_any_request(azure_emulator, azure_emulator_env):
    source = ClientSecretSource(azure_emulator.app.app_id, "bad/tenant?x=1", "s")
    with pytest.raises(AzureServiceTokenProviderError, match="not a valid tenant"):
        source.get_token(_request(azure_emulator))
    assert azure_emulator.counters["entra.discovery"] == 0


def test_unreachable_authority_says_so(azure_emulator, azure_emulator_env):
    with socket.socket() as placeholder:  # a loopback port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    source = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, "s3cret-unreachable")
    request = TokenRequest(VAULT, authority_host=f"https://127.0.0.1:{port}/")
    with pytest.raises(TokenEndpointError) as raised:
        source.get_token(request)
    assert f"Could not reach https://127.0.0.1:{port}/{azure_emulator.tenant_id}" in str(raised.value)
    assert "s3cret-unreachable" not in str(raised.value)
    assert not raised.value.credential_rejected


def test_a_reply_that_is_not_json_is_an_error_not_a_crash(azure_emulator, azure_emulator_env):
    """msal raises a bare ValueError when the token endpoint (or a proxy in front of it) answers with something
    that is not JSON; it must come out as the provider's error, so that a chain can go on."""
    azure_emulator.faults.inject("entra.token", garbage=True)
    secret = azure_emulator.app.secrets[0]
    source = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, secret)
    with pytest.raises(TokenEndpointError, match="answered with something that is not a token reply") as raised:
        source.get_token(_request(azure_emulator))
    assert "Check the network, proxy and cloud" in str(raised.value)
    assert secret not in str(raised.value)
    assert source.get_token(_request(azure_emulator)).access_token  # the next reply is a token again


def test_error_reply_keeps_entras_words_ids_and_a_fix():
    context = FailureContext("app-1", "tenant-1", "https://vault.azure.net/x", "client secret")
    reply = {
        "error": "invalid_scope",
        "error_description": "AADSTS1002012: The provided value for scope is not valid.\r\nTrace ID: t-1\r\nMore",
        "error_codes": [1002012],
        "trace_id": "t-1",
        "correlation_id": "c-1",
        "error_uri": "https://login.microsoftonline.com/error?code=1002012",
    }
    text = describe_error_reply(reply, context)
    assert text.startswith(
        "AADSTS1002012: The provided value for scope is not valid. (Trace ID: t-1, Correlation ID: c-1)"
    )
    assert "'https://vault.azure.net/x' is not a valid resource" in text
    assert "\r" not in text and "\n" not in text
    unknown = describe_error_reply({**reply, "error_codes": [123], "error_description": "AADSTS123: odd"}, context)
    assert unknown.endswith("See https://login.microsoftonline.com/error?code=1002012.")


def test_missing_settings_are_refused():
    with pytest.raises(ValueError, match="app id, a tenant id and a secret"):
        ClientSecretSource("app", "tenant", "")
