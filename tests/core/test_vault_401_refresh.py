"""A 401 from Key Vault to a cached token: that token is renewed once (force_refresh) and the read retried once.

Without it a refused token (wrong audience, another tenant, minted before a role change) stays cached until
it expires, ~24 h for a managed identity, and every read fails. Counted upstream: the App Service managed
identity endpoint (``mi.app_service``) and the vault's reads (``keyvault.<vault>.get_secret``).
"""

from __future__ import annotations

import uuid

import pytest
from azure.core.credentials import AccessToken
from azure.keyvault.secrets._shared import http_challenge_cache

from appauth_core import AzureServiceTokenProviderError, KeyVaultError, KeyVaultSecrets, SecretAccessDeniedError
from appauth_core.keyvault._vault_client import RenewingCredential

from .secrets_support import provider, secrets_for, unique

VAULT = "https://vault.azure.net"
GET = "keyvault.local.get_secret"
CHALLENGE = "keyvault.local.challenge"
MI = "mi.app_service"


@pytest.fixture(autouse=True)
def no_challenge_cached():
    """SecretClient keeps each vault's challenge in a module-level cache: with it cached, a refused read
    costs two requests (the SDK resends once with the same token), without it one after the discovery.
    Starting empty makes the counts below exact."""
    http_challenge_cache.clear()
    yield
    http_challenge_cache.clear()


def serve_token_once(emulator, *, audience: str = VAULT, tenant_id: str | None = None) -> None:
    """The next managed-identity token is one Key Vault will refuse: another audience, or another tenant."""
    identity = emulator.directory.system_identity
    token = emulator.issue_token(audience, identity=identity, tenant_id=tenant_id)
    body = {
        "access_token": token.access_token,
        "expires_on": str(token.expires_on),
        "resource": VAULT,
        "token_type": "Bearer",
        "client_id": identity.client_id,
    }
    emulator.faults.inject(MI, status=200, body=body)


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param({"audience": "https://management.azure.com"}, id="wrong-audience-AKV10022"),
        pytest.param({"tenant_id": str(uuid.uuid4())}, id="another-tenant-AKV10032"),
    ],
)
def test_a_refused_token_is_renewed_once_and_the_read_retried(azure_emulator, azure_emulator_env, refused):
    name, other = unique(), unique()
    azure_emulator.vault.set_secret(name, "value")
    azure_emulator.vault.set_secret(other, "other")
    serve_token_once(azure_emulator, **refused)
    secrets = secrets_for(azure_emulator)
    assert secrets.get(name) == "value"
    assert azure_emulator.counters[MI] == 2  # the refused token, then exactly one forced refresh
    assert azure_emulator.counters[GET] == 2  # refused, then the retry
    assert secrets.get(other) == "other"  # the renewed token is the cached one now
    assert azure_emulator.counters[MI] == 2


def test_a_vault_that_always_refuses_costs_one_token_request_per_read(azure_emulator, azure_emulator_env):
    """A vault that moved to another tenant (its challenge names that tenant; the identity's tokens are
    still issued by its own): 401 AKV10032 whatever the token, so every read is refused, typed, bounded."""
    vault = azure_emulator.add_vault(unique("moved"))
    vault.tenant_id = str(uuid.uuid4())
    name = unique()
    vault.set_secret(name, "value")
    secrets = KeyVaultSecrets(vault.url, provider())
    for attempt in range(1, 4):
        # After the first, refresh(): it asks again at once (a plain get() is answered from memory for 5 s).
        read = secrets.get if attempt == 1 else secrets.refresh
        with pytest.raises(SecretAccessDeniedError) as caught:
            read(name)
        assert (caught.value.status, caught.value.secret_name) == (401, name)
        assert "AKV10032" in str(caught.value)
        # One token for the first read, then one forced refresh per read; two reads of the vault per read.
        assert azure_emulator.counters[MI] == 1 + attempt
        assert azure_emulator.counters[f"keyvault.{vault.name}.get_secret"] == 2 * attempt
    for _ in range(10):  # the refusal is remembered briefly: no request, no token renewal per caller
        with pytest.raises(SecretAccessDeniedError):
            secrets.get(name)
    assert azure_emulator.counters[MI] == 4
    assert azure_emulator.counters[f"keyvault.{vault.name}.get_secret"] == 6
    secrets.close()


def test_an_injected_401_that_persists_is_access_denied(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    challenge = f'Bearer authorization="{azure_emulator.authority_with_tenant}", resource="{VAULT}"'
    body = {"error": {"code": "Unauthorized", "message": "AKV10022: Invalid audience."}}
    azure_emulator.faults.inject(GET, status=401, body=body, headers={"WWW-Authenticate": challenge}, times=10)
    with pytest.raises(SecretAccessDeniedError) as caught:
        secrets_for(azure_emulator).get(name)
    assert caught.value.status == 401
    assert (azure_emulator.counters[MI], azure_emulator.counters[GET]) == (2, 2)


@pytest.mark.parametrize(
    "refresh_delay",
    [
        pytest.param(0.5, id="401s-during-the-refresh"),  # they join its flight (TokenCache is single-flight)
        pytest.param(0.0, id="401s-after-the-refresh"),  # they find the cache already newer than their token
    ],
)
def test_32_readers_refused_at_once_cause_one_token_request(azure_emulator, azure_emulator_env, refresh_delay):
    names = [unique() for _ in range(32)]
    for name in names:
        azure_emulator.vault.set_secret(name, f"value-{name}")
    serve_token_once(azure_emulator, audience="https://management.azure.com")
    if refresh_delay:
        azure_emulator.faults.inject(MI, delay=refresh_delay)  # the forced refresh stays in flight
    secrets = secrets_for(azure_emulator, max_concurrency=32)
    assert secrets.get_many(names) == {name: f"value-{name}" for name in names}
    assert azure_emulator.counters[MI] == 2  # one refused token, one forced refresh: not one per reader
    # Each read: at most two attempts, each at most two requests (the SDK's own resend after a challenge).
    # Readers that start after the renewal are never refused, hence no exact count.
    assert 32 < azure_emulator.counters[GET] <= 4 * 32


def test_a_token_renewed_meanwhile_is_reused_not_refreshed_again(azure_emulator, azure_emulator_env):
    tokens = provider()
    credential = RenewingCredential(tokens)
    scope, options = f"{VAULT}/.default", {"tenant_id": azure_emulator.tenant_id}
    refused = credential.get_token_info(scope, options=options).token
    renewed = tokens.get_access_token(VAULT, azure_emulator.tenant_id, force_refresh=True)  # someone else did
    assert azure_emulator.counters[MI] == 2
    credential.renew(refused)
    assert azure_emulator.counters[MI] == 2
    assert credential.get_token_info(scope, options=options).token == renewed
    credential.renew(renewed)  # this one is the cache's: renewed once
    credential.renew(renewed)  # and only once
    assert azure_emulator.counters[MI] == 3


def test_a_failed_renewal_raises_the_providers_error(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    serve_token_once(azure_emulator, audience="https://management.azure.com")
    azure_emulator.faults.inject(MI, status=400, body={"statusCode": 400, "message": "Bad request."})
    with pytest.raises(AzureServiceTokenProviderError) as caught:
        secrets_for(azure_emulator).get(name)
    assert not isinstance(caught.value, KeyVaultError)
    assert (azure_emulator.counters[MI], azure_emulator.counters[GET]) == (2, 1)  # no retry without a new token


def test_a_401_to_a_request_without_a_token_is_not_retried(azure_emulator, azure_emulator_env):
    """The challenge discovery refused without a challenge: no token was sent, so none is renewed."""
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    azure_emulator.faults.inject(CHALLENGE, status=401, body={"error": {"code": "Unauthorized", "message": "No."}})
    with pytest.raises(SecretAccessDeniedError):
        secrets_for(azure_emulator).get(name)
    assert azure_emulator.counters[MI] == 0
    assert (azure_emulator.counters[CHALLENGE], azure_emulator.counters[GET]) == (1, 0)


def test_a_credential_other_than_our_provider_is_not_retried(azure_emulator, azure_emulator_env):
    class Credential:  # any azure-core credential: nothing of ours to renew
        def get_token(self, *scopes, **kwargs):
            issued = azure_emulator.issue_token("https://management.azure.com", identity=identity)
            return AccessToken(issued.access_token, issued.expires_on)

    identity = azure_emulator.directory.system_identity
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    secrets = KeyVaultSecrets(azure_emulator.vault.url, Credential())  # type: ignore[arg-type]
    with pytest.raises(SecretAccessDeniedError):
        secrets.get(name)
    assert azure_emulator.counters[GET] == 1
