"""Security: the shared secret cache is partitioned per app and per identity.

Two apps on one Redis (a real redis-server on loopback), each reading Key Vault through the emulator. The
entries one app stores must be invisible to another app (another encryption key) and to another identity
(another managed identity or service principal): otherwise two apps overwrite each other's entries, and an
identity whose access to the vault was revoked keeps being served the values another identity read.
"""

from __future__ import annotations

import secrets as random_secrets
import uuid

import pytest
import redis
from cryptography.fernet import Fernet

from appauth_core import AzureServiceTokenProvider, KeyVaultSecrets, RedisSecretCache, SecretAccessDeniedError
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache

GET = "keyvault.local.get_secret"


def _entries(redis_url: str, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [key for key in client.keys(prefix + "*") if not key.endswith(b":lease")]
    finally:
        client.close()


def _managed_identity() -> AzureServiceTokenProvider:
    """The App Service managed identity (``azure_emulator_env``), with a token cache of its own."""
    return AzureServiceTokenProvider(cache=TokenCache())


def _service_principal(emulator: AzureEmulator, app_id: str, secret: str) -> AzureServiceTokenProvider:
    return AzureServiceTokenProvider(
        f"RunAs=App;AppId={app_id};TenantId={emulator.tenant_id};AppKey={secret}",
        emulator.authority,
        cache=TokenCache(),
    )


class TestTheSharedCacheIsPartitionedPerAppAndIdentity:
    """Finding 10 of issue 14: the shared-cache key was a hash of (vault, name, version) only."""

    @pytest.fixture
    def prefix(self) -> str:
        return f"appauth-partition-{uuid.uuid4().hex[:8]}:"

    def _reader(
        self, emulator: AzureEmulator, redis_url: str, prefix: str, key: bytes, provider: AzureServiceTokenProvider
    ) -> KeyVaultSecrets:
        """One process's worth of ``KeyVaultSecrets`` (its own memory cache) on the shared Redis."""
        return KeyVaultSecrets(
            emulator.vault.url, provider, shared_cache=RedisSecretCache(redis_url, prefix=prefix), encryption_key=key
        )

    def test_two_apps_with_their_own_keys_keep_their_own_entries(
        self, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], redis_url: str, prefix: str
    ) -> None:
        name, value = f"partition-{uuid.uuid4().hex[:8]}", f"value-{uuid.uuid4().hex}"
        azure_emulator.vault.set_secret(name, value)
        key_a, key_b = Fernet.generate_key(), Fernet.generate_key()
        assert self._reader(azure_emulator, redis_url, prefix, key_a, _managed_identity()).get(name) == value
        assert self._reader(azure_emulator, redis_url, prefix, key_b, _managed_identity()).get(name) == value
        assert azure_emulator.counters[GET] == 2  # each app read Key Vault once and stored its entry
        assert len(_entries(redis_url, prefix)) == 2  # side by side: B did not overwrite A's

        for _ in range(3):  # more processes of each app: all served from Redis
            assert self._reader(azure_emulator, redis_url, prefix, key_a, _managed_identity()).get(name) == value
            assert self._reader(azure_emulator, redis_url, prefix, key_b, _managed_identity()).get(name) == value
        assert azure_emulator.counters[GET] == 2

    def test_a_revoked_identity_is_not_served_what_another_identity_read(
        self, azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], redis_url: str, prefix: str
    ) -> None:
        name, value = f"partition-{uuid.uuid4().hex[:8]}", f"value-{uuid.uuid4().hex}"
        azure_emulator.vault.set_secret(name, value)
        key = Fernet.generate_key()  # one key, as apps configured from one place may share
        secret = random_secrets.token_urlsafe(24)
        revoked = azure_emulator.register_app(secret=secret)  # could read the vault ...
        azure_emulator.vault.revoke(revoked.object_id)  # ... until its access was revoked

        def read_as_the_revoked_app() -> str:
            provider = _service_principal(azure_emulator, revoked.app_id, secret)
            return self._reader(azure_emulator, redis_url, prefix, key, provider).get(name)

        assert self._reader(azure_emulator, redis_url, prefix, key, _managed_identity()).get(name) == value
        for _ in range(2):  # each time Key Vault's 403, never the entry the managed identity keeps fresh
            with pytest.raises(SecretAccessDeniedError):
                read_as_the_revoked_app()
        assert azure_emulator.counters[GET] == 3
        # The identity that has access keeps being served from Redis.
        assert self._reader(azure_emulator, redis_url, prefix, key, _managed_identity()).get(name) == value
        assert azure_emulator.counters[GET] == 3
