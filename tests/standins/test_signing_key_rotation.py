"""Signing-key rotation driven by the test: ``rotate_signing_key()`` publishes a new key beside the old one and
signs with it; ``retire_old_signing_keys()`` stops publishing the old one. Checked as a resource server sees
it (the JWKS the discovery document names, fetched over HTTPS, and PyJWT) and as the emulated Key Vault does.

Each test has an emulator of its own: a retired key would fail tokens other tests' caches still hold."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import msal
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from appauth_core.testing import AzureEmulator
from appauth_core.testing.emulator import SOURCE_SELECTING_VARIABLES

from .published_keys import discovery, jwks_client, verified_claims


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureEmulator]:
    with AzureEmulator() as emulator:
        for name in SOURCE_SELECTING_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in emulator.process_env().items():
            monkeypatch.setenv(name, value)
        yield emulator


def client_token(emulator: AzureEmulator, scope: str) -> str:
    """A fresh token from Entra's token endpoint (msal, a new cache each time)."""
    app = msal.ConfidentialClientApplication(
        emulator.app.app_id,
        client_credential=emulator.app.secrets[0],
        authority=emulator.authority_with_tenant,
        instance_discovery=False,
        validate_authority=False,
        token_cache=msal.TokenCache(),
    )
    result = app.acquire_token_for_client([scope])
    assert "access_token" in result, result
    token: str = result["access_token"]
    return token


def published_kids(emulator: AzureEmulator, version: int = 2) -> list[str]:
    jwks_uri = discovery(emulator, emulator.tenant_id, version=version)["jwks_uri"]
    return [key.key_id for key in jwks_client(emulator, jwks_uri).get_signing_keys()]


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def test_rotation_publishes_both_keys_and_the_new_one_signs(emulator):
    api = emulator.register_api("api://orders", roles=("Orders.Read",), version=2)
    emulator.assign_role(api, emulator.app, "Orders.Read")
    before = client_token(emulator, "api://orders/.default")
    old_kid = kid_of(before)
    assert published_kids(emulator) == [old_kid]

    new_kid = emulator.rotate_signing_key()
    assert new_kid != old_kid
    for version in (1, 2):
        assert published_kids(emulator, version) == [old_kid, new_kid]
    after = client_token(emulator, "api://orders/.default")
    assert kid_of(after) == new_kid
    # both verify with the published key set: nothing fails during the overlap
    for token in (before, after):
        claims = verified_claims(emulator, token, audience=api.app_id, version=2)
        assert claims["roles"] == ["Orders.Read"]
    # managed-identity endpoints and the test helpers sign with the new key too
    identity_token = ManagedIdentityCredential().get_token("api://orders/.default").token
    assert kid_of(identity_token) == new_kid
    assert kid_of(emulator.issue_token("https://vault.azure.net").access_token) == new_kid
    assert kid_of(emulator.issue_user_token(api)) == new_kid


def test_retired_keys_are_no_longer_published_nor_accepted(emulator):
    before = client_token(emulator, "https://storage.azure.com/.default")
    old_kid = kid_of(before)
    new_kid = emulator.rotate_signing_key()
    after = client_token(emulator, "https://storage.azure.com/.default")
    assert emulator.retire_old_signing_keys() == (old_kid,)
    assert published_kids(emulator) == [new_kid]
    with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
        verified_claims(emulator, before, audience="https://storage.azure.com", version=1)
    assert (
        verified_claims(emulator, after, audience="https://storage.azure.com", version=1)["tid"] == emulator.tenant_id
    )
    assert emulator.retire_old_signing_keys() == ()  # nothing left to retire


def test_every_rotation_adds_a_key_until_retired(emulator):
    kids = [emulator.issuer.kid, emulator.rotate_signing_key(), emulator.rotate_signing_key()]
    assert published_kids(emulator) == kids
    emulator.retire_old_signing_keys()
    assert published_kids(emulator) == kids[-1:]


class FixedToken:
    """A credential that always hands out one token: what a client that cached it before a rotation holds."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        claims = jwt.decode(self.token, options={"verify_signature": False})
        return AccessToken(self.token, int(claims["exp"]))


def test_key_vault_accepts_a_token_while_its_key_is_published(emulator):
    emulator.vault.set_secret("greeting", "hello")
    cached = emulator.issue_token("https://vault.azure.net").access_token
    emulator.rotate_signing_key()
    client = SecretClient(emulator.vault.url, FixedToken(cached), verify_challenge_resource=False)
    assert client.get_secret("greeting").value == "hello"
    emulator.retire_old_signing_keys()
    retired = SecretClient(emulator.vault.url, FixedToken(cached), verify_challenge_resource=False)
    with pytest.raises(ClientAuthenticationError) as refused:
        retired.get_secret("greeting")
    assert refused.value.status_code == 401
    fresh = emulator.issue_token("https://vault.azure.net").access_token
    assert (
        SecretClient(emulator.vault.url, FixedToken(fresh), verify_challenge_resource=False)
        .get_secret("greeting")
        .value
        == "hello"
    )


def test_key_refetches_are_counted(emulator):
    emulator.counters.reset()
    published_kids(emulator)
    emulator.rotate_signing_key()
    published_kids(emulator)
    assert emulator.counters["entra.jwks"] == 2
    assert emulator.counters["entra.discovery"] == 2
