"""How the SecretClient is configured (challenge check, Key Vault scope guard, redirects, bounded retries),
how many are kept, and how a Retry-After is read. No network: the clients are inspected, not used."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError

from appauth_core import VaultResourceNotAllowedError
from appauth_core.keyvault._vault_client import MAX_CLIENTS, BoundedRetryPolicy, VaultClients
from appauth_core.keyvault._vault_errors import retry_after_seconds
from appauth_core.tokens._vault_hosts import VaultOrigin
from appauth_core.tokens._vault_scope import KeyVaultScopedCredential


class Credential:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("token", 0)


def config_of(origin: VaultOrigin, **options):
    clients = VaultClients(Credential, client_options=options)
    return clients._client(origin)._client._config, clients


def test_the_challenge_resource_check_stays_on_for_real_vaults_only():
    real, clients = config_of(VaultOrigin("myvault.vault.azure.net"))
    assert real.authentication_policy._verify_challenge_resource is True
    for loopback in (VaultOrigin("127.0.0.1", 8443), VaultOrigin("kv.localhost", 8443), VaultOrigin("::1", 8443)):
        config, _ = config_of(loopback)
        assert config.authentication_policy._verify_challenge_resource is False
    clients.close()


def test_redirects_are_off_and_retries_are_bounded():
    config, clients = config_of(VaultOrigin("myvault.vault.azure.net"))
    assert config.redirect_policy.allow is False
    assert isinstance(config.retry_policy, BoundedRetryPolicy)
    assert config.retry_policy.total_retries == 3
    assert config.retry_policy.timeout == 30
    overridden, _ = config_of(VaultOrigin("myvault.vault.azure.net"), retry_total=0, api_version="7.4")
    assert overridden.retry_policy.total_retries == 0
    clients.close()


def test_one_client_per_vault_is_kept():
    clients = VaultClients(Credential)
    origin = VaultOrigin("myvault.vault.azure.net")
    assert clients._client(origin) is clients._client(VaultOrigin("myvault.vault.azure.net", 443))
    assert clients._client(origin) is not clients._client(VaultOrigin("other.vault.azure.net"))
    clients.close()


def test_every_client_gets_the_key_vault_scope_guard():
    clients = VaultClients(Credential, key_vault_resource="https://vault.contoso.example")
    for origin in (VaultOrigin("myvault.vault.azure.net"), VaultOrigin("127.0.0.1", 8443)):
        credential = clients._client(origin)._client._config.authentication_policy._credential
        assert isinstance(credential, KeyVaultScopedCredential)
        assert credential.get_token("https://vault.contoso.example/.default").token == "token"
        with pytest.raises(VaultResourceNotAllowedError) as caught:
            credential.get_token("https://management.azure.com/.default")
        assert caught.value.vault_url == origin.url
        assert "KeyVaultSecrets(key_vault_resource=...)" in str(caught.value)  # without an adapter: the argument
    clients.close()


def test_clients_are_bounded_the_least_recently_used_going_first():
    assert MAX_CLIENTS == 64
    clients = VaultClients(Credential, max_clients=2)
    a, b, c = (VaultOrigin(f"{name}.vault.azure.net") for name in "abc")
    first_a = clients._client(a)
    clients._client(b)
    assert clients._client(a) is first_a  # a used again: b is now the least recently used
    clients._client(c)
    assert list(clients._clients) == [a, c]
    assert clients._client(a) is first_a
    clients._client(b)  # built again
    assert list(clients._clients) == [a, b]
    clients.close()


def test_a_flood_of_vault_names_keeps_max_clients():
    clients = VaultClients(Credential)
    for index in range(MAX_CLIENTS * 3):
        clients._client(VaultOrigin(f"v{index}.vault.azure.net"))
    assert len(clients._clients) == MAX_CLIENTS
    clients.close()


class Response:
    def __init__(self, headers):
        self.headers = headers
        self.status_code = 429
        self.reason = "Too Many Requests"
        self.request = None

    def text(self):
        return ""


def error_with(headers) -> HttpResponseError:
    return HttpResponseError(message="throttled", response=Response(headers))


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "2500"}, 2.5),
        ({"x-ms-retry-after-ms": "100", "Retry-After": "9"}, 0.1),
        ({}, None),
        ({"Retry-After": "soon"}, None),
    ],
)
def test_retry_after_values(headers, seconds):
    assert retry_after_seconds(error_with(headers)) == seconds


def test_retry_after_as_an_http_date():
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120)
    waited = retry_after_seconds(error_with({"Retry-After": email.utils.format_datetime(later, usegmt=True)}))
    assert waited is not None and 100 < waited <= 120
