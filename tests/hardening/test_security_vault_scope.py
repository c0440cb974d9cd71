"""Security: a Key Vault credential issues only Key Vault tokens, whatever the vault's challenge asks for.

``SecretClient`` asks its credential for the scope the vault's first 401 names (``resource=`` or ``scope=``).
A server at an address the app reads secrets from (here a loopback listener of our own, where the SDK's own
resource check is off) answers that first request with a challenge for Azure Resource Manager, Graph,
Storage ... Both Key Vault clients (``KeyVaultSecrets`` and the Key Vault certificate source) must refuse
every such challenge with ``VaultResourceNotAllowedError`` before any token is requested: no request reaches
the emulator's token endpoints, and the listener never sees an ``Authorization`` header. Key Vault's own
resources (the emulator's vaults challenge with ``https://vault.azure.net``) and the one resource the app
configures keep working.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from appauth_core import (
    AzureServiceTokenProvider,
    AzureServiceTokenProviderError,
    KeyVaultSecrets,
    SecretAccessDeniedError,
    VaultResourceNotAllowedError,
)
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache
from appauth_core.tokens.sources._base import TokenRequest
from appauth_core.tokens.sources._client_secret import ClientSecretSource
from appauth_core.tokens.sources._key_vault_certificate import KeyVaultCertificateSource
from tests.core.test_certificate_source import make_certificate, pfx_bytes

from .support import ForeignListener, bounded
from .test_ssrf import _service_principal, _token_requests

CALL_LIMIT = 60.0  # seconds: a hang guard, not a timing

HOSTILE_CHALLENGES = {
    "Azure Resource Manager": 'resource="https://management.azure.com"',
    "Resource Manager, classic audience": 'resource="https://management.core.windows.net/"',
    "Microsoft Graph": 'resource="https://graph.microsoft.com"',
    "Storage": 'resource="https://storage.azure.com"',
    "Azure SQL": 'resource="https://database.windows.net/"',
    "a scope that overrides a Key Vault resource": (
        'resource="https://vault.azure.net", scope="https://management.azure.com/.default"'
    ),
    "two scopes in one": 'scope="https://vault.azure.net/.default https://management.azure.com/.default"',
    "a look-alike of vault.azure.net": 'resource="https://vault.azure.net.evil.example"',
    "a vault host instead of the resource": 'resource="https://evil.vault.azure.net"',
    "vault.azure.net on another port": 'resource="https://vault.azure.net:8443"',
    "a path below vault.azure.net": 'resource="https://vault.azure.net/management"',
    "vault.azure.net over http": 'resource="http://vault.azure.net"',
    "the listener itself": 'resource="https://{netloc}"',
    "Managed HSM (it serves no secrets)": 'resource="https://managedhsm.azure.net"',
    "an app's own API": 'resource="api://00000000-0000-0000-0000-0000000000a1"',
}
CONFIGURED_RESOURCE = "https://vault.contoso.example"
UNAUTHORIZED = json.dumps(
    {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}
).encode()


def challenging_vault(emulator: AzureEmulator, parameters: str) -> ForeignListener:
    """A TLS listener (trusted like the emulator) that answers every request with a 401 and this challenge."""
    listener = ForeignListener(tls=emulator.tls.server_context()).start()
    authority = f"{emulator.authority}{emulator.tenant_id}"
    challenge = f'Bearer authorization="{authority}", ' + parameters.format(netloc=listener.netloc)
    listener.reply = (
        f"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(UNAUTHORIZED)}\r\nConnection: close\r\n\r\n"
    ).encode() + UNAUTHORIZED
    return listener


def authorization_headers(listener: ForeignListener) -> list[str]:
    time.sleep(0.05)  # a request being accepted right now is counted too
    return [header for c in listener.connections if (header := c.header("Authorization"))]


def _certificate_provider(emulator: AzureEmulator, identifier: str) -> AzureServiceTokenProvider:
    """A provider that signs in with a certificate kept at ``identifier``, read with the App Service identity."""
    return AzureServiceTokenProvider(
        f"RunAs=App;AppId={emulator.app.app_id};TenantId={emulator.tenant_id};"
        f"KeyVaultCertificateSecretIdentifier={identifier};"
        f"KeyVaultUserAssignedManagedIdentityId={emulator.user_assigned_identity.client_id}",
        emulator.authority,
        cache=TokenCache(),
        environ=emulator.app_service_env(),
    )


@pytest.fixture
def listeners() -> Iterator[list[ForeignListener]]:
    started: list[ForeignListener] = []
    yield started
    for listener in started:
        listener.stop()


class TestAKeyVaultCredentialIssuesOnlyKeyVaultTokens:
    """Finding 1 of issue 14: with the SDK's resource check off for loopback vaults, a listener there got an
    ARM token by asking for one in its challenge. The guard is the credential every Key Vault client gets."""

    def _each_hostile_challenge(
        self, emulator: AzureEmulator, listeners: list[ForeignListener], call: Callable[[ForeignListener], Any]
    ) -> dict[str, tuple[str, int, list[str]]]:
        """For each hostile challenge, a fresh listener (the SDK caches a challenge per host and port):
        what the call raised, how many token requests it caused, which Authorization headers were sent."""
        seen: dict[str, tuple[str, int, list[str]]] = {}
        for name, parameters in HOSTILE_CHALLENGES.items():
            listener = challenging_vault(emulator, parameters)
            listeners.append(listener)
            before = _token_requests(emulator)
            outcome = bounded(lambda listener=listener: call(listener), CALL_LIMIT)
            assert outcome.finished, f"{name}: the call did not end"
            error = outcome.error
            if isinstance(error, VaultResourceNotAllowedError):
                assert error.vault_url is not None and listener.netloc in error.vault_url
                assert error.challenge_resource is not None and error.challenge_resource in str(error)
                assert "KEY_VAULT_RESOURCE" in str(error) or "key_vault_resource" in str(error)  # what to configure
            seen[name] = (type(error).__name__, _token_requests(emulator) - before, authorization_headers(listener))
        return seen

    def test_the_secrets_client_refuses_every_other_resource_before_asking_for_a_token(
        self, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], listeners: list[ForeignListener]
    ) -> None:
        def read(listener: ForeignListener) -> str:
            secrets = KeyVaultSecrets(
                listener.url, _service_principal(azure_emulator), client_options={"retry_total": 0}
            )
            return secrets.get("db-password")

        seen = self._each_hostile_challenge(azure_emulator, listeners, read)
        assert seen == {name: ("VaultResourceNotAllowedError", 0, []) for name in HOSTILE_CHALLENGES}

    def test_the_certificate_source_refuses_every_other_resource_before_asking_for_a_token(
        self, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], listeners: list[ForeignListener]
    ) -> None:
        def sign_in(listener: ForeignListener) -> str:
            provider = _certificate_provider(azure_emulator, f"{listener.url}secrets/app-cert")
            return provider.get_access_token("https://management.azure.com")

        seen = self._each_hostile_challenge(azure_emulator, listeners, sign_in)
        assert seen == {name: ("VaultResourceNotAllowedError", 0, []) for name in HOSTILE_CHALLENGES}

    def test_key_vaults_own_resources_and_the_configured_one_still_get_tokens(
        self, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], listeners: list[ForeignListener]
    ) -> None:
        # The emulator's vaults challenge with https://vault.azure.net: both clients keep reading them.
        azure_emulator.vault.set_secret("scope-guard-control", "value")
        assert (
            KeyVaultSecrets(azure_emulator.vault.url, _service_principal(azure_emulator)).get("scope-guard-control")
            == "value"
        )
        cert = make_certificate("scope-guard-cert")
        app = azure_emulator.register_app(certificate=cert)
        version = azure_emulator.vault.set_secret(
            "scope-guard-cert", base64.b64encode(pfx_bytes(cert)).decode(), content_type="application/x-pkcs12"
        )
        reader = ClientSecretSource(azure_emulator.app.app_id, azure_emulator.tenant_id, azure_emulator.app.secrets[0])
        source = KeyVaultCertificateSource(
            app.app_id, f"{azure_emulator.vault.url}secrets/scope-guard-cert/{version.version}",
            vault_token_source=reader,
        )  # fmt: skip
        request = TokenRequest("https://storage.azure.com", None, azure_emulator.authority)
        assert azure_emulator.issuer.verify(source.get_token(request).access_token)["appid"] == app.app_id

        # A vault whose challenge names the resource the app configured gets a token for it.
        configured = f'resource="{CONFIGURED_RESOURCE}"'
        vault = challenging_vault(azure_emulator, configured)
        listeners.append(vault)
        secrets = KeyVaultSecrets(
            vault.url,
            _service_principal(azure_emulator),
            key_vault_resource=CONFIGURED_RESOURCE + "/",
            client_options={"retry_total": 0},
        )
        with pytest.raises(SecretAccessDeniedError, match="401"):  # the listener refuses every token it is sent
            secrets.get("db-password")
        [header, *_] = authorization_headers(vault)
        claims = azure_emulator.issuer.verify(header.removeprefix("Bearer "))
        assert claims["aud"] == CONFIGURED_RESOURCE

        certificate_vault = challenging_vault(azure_emulator, configured)
        listeners.append(certificate_vault)
        source = KeyVaultCertificateSource(
            app.app_id, f"{certificate_vault.url}secrets/app-cert", vault_token_source=reader,
            key_vault_resource=CONFIGURED_RESOURCE,
        )  # fmt: skip
        with pytest.raises(AzureServiceTokenProviderError, match="Key Vault answered 401") as caught:
            source.get_token(request)
        assert not isinstance(caught.value, VaultResourceNotAllowedError)
        assert len(authorization_headers(certificate_vault)) >= 1
