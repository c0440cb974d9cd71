"""The shared secret cache on a real redis-server (loopback, started by the suite): processes read Key Vault
once between them, values are stored encrypted, a wrong key or a dead Redis is a miss and never a crash,
and an unencrypted shared cache must be asked for explicitly."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis
from cryptography.fernet import Fernet

from appauth_core import KeyVaultConfigurationError, KeyVaultSecrets, RedisSecretCache
from appauth_core.keyvault._references import SecretRef
from appauth_core.keyvault._shared_cache import SealedSharedCache, SharedEntry, SupportsAdd, cache_key
from appauth_core.keyvault._vault_client import SecretMetadata
from appauth_core.tokens._vault_hosts import VaultOrigin

from .secrets_support import Clock, canary, free_port, secret_uri, secrets_for, unique

GET = "keyvault.local.get_secret"

READER = """
import os
from appauth_core import KeyVaultSecrets, RedisSecretCache
secrets = KeyVaultSecrets(
    os.environ["TEST_VAULT_URL"],
    shared_cache=RedisSecretCache(os.environ["TEST_REDIS_URL"], prefix=os.environ["TEST_PREFIX"]),
    encryption_key=os.environ["TEST_FERNET_KEY"],
)
print(secrets.get(os.environ["TEST_SECRET_NAME"]), flush=True)
"""


@pytest.fixture
def prefix() -> str:
    return f"appauth-test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


def shared(redis_url: str, prefix: str) -> RedisSecretCache:
    return RedisSecretCache(redis_url, prefix=prefix)


def stored(client: redis.Redis, prefix: str) -> list[bytes]:
    return [client.get(k) for k in client.keys(prefix + "kv:*") if not k.endswith(b":lease")]


def test_two_processes_read_key_vault_once(azure_emulator, azure_emulator_env, redis_url, prefix, key):
    name = unique()
    azure_emulator.vault.set_secret(name, "shared-value")
    env = {
        **os.environ,
        "TEST_VAULT_URL": azure_emulator.vault.url,
        "TEST_REDIS_URL": redis_url,
        "TEST_PREFIX": prefix,
        "TEST_FERNET_KEY": key.decode(),
        "TEST_SECRET_NAME": name,
    }
    readers = [
        subprocess.Popen([sys.executable, "-c", READER], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [reader.communicate(timeout=60) for reader in readers]
    for reader, (out, err) in zip(readers, outputs, strict=True):
        assert reader.returncode == 0, err.decode()
        assert out.decode().strip() == "shared-value"
    assert azure_emulator.counters[GET] == 1


def test_processes_missing_together_wait_for_one_reader(azure_emulator, azure_emulator_env, redis_url, prefix, key):
    """Two instances (two processes' worth of memory caches) miss at the same moment: the fill lease makes
    the second wait for the first one's read instead of reading Key Vault too."""
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    azure_emulator.faults.inject(GET, delay=0.5)  # keep the first read in flight
    first = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=key)
    second = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=key)
    values: list[str] = []
    reader = threading.Thread(target=lambda: values.append(first.get(name)))
    reader.start()
    client = redis.Redis.from_url(redis_url)
    lease = prefix + first._shared.key(first._ref(name)) + ":lease"
    while not client.exists(lease) and reader.is_alive():
        threading.Event().wait(0.01)
    assert second.get(name) == "value"
    reader.join(10)
    assert values == ["value"]
    assert azure_emulator.counters[GET] == 1
    client.close()


def test_values_in_redis_are_encrypted(azure_emulator, azure_emulator_env, redis_url, redis_client, prefix, key):
    name, value = unique(), canary()
    azure_emulator.vault.set_secret(name, value)
    secrets = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=key)
    assert secrets.get(name) == value
    [raw] = stored(redis_client, prefix)
    assert value.encode() not in raw
    assert name.encode() not in raw  # the key is a hash and the payload is sealed
    assert value.encode() in Fernet(key).decrypt(raw)
    assert 0 < redis_client.pttl(redis_client.keys(prefix + "kv:*")[0]) <= 300_000  # it expires with the TTL


def test_a_wrong_key_is_a_miss_not_a_crash(
    azure_emulator, azure_emulator_env, redis_url, redis_client, prefix, key, caplog
):
    name, value = unique(), canary()
    azure_emulator.vault.set_secret(name, value)
    first = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=key)
    first.get(name)
    other = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=Fernet.generate_key())
    assert other.get(name) == value  # another key is another partition: a plain miss
    assert azure_emulator.counters[GET] == 2
    assert len(stored(redis_client, prefix)) == 2  # and the first app's entry is still there
    # An entry under this app's key that this app's key cannot open (written by someone else): a miss, logged.
    ref = first._ref(name)
    redis_client.set(prefix + first._shared.key(ref), redis_client.get(prefix + other._shared.key(ref)))
    with caplog.at_level(logging.WARNING, logger="appauth_core"):
        fresh = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=key)
        assert fresh.get(name) == value
    assert azure_emulator.counters[GET] == 3
    assert "could not be opened" in caplog.text and value not in caplog.text


def test_an_entry_cannot_be_replayed_under_another_secrets_key(
    azure_emulator, azure_emulator_env, redis_url, redis_client, prefix, key
):
    public, private = unique("public"), unique("private")
    azure_emulator.vault.set_secret(public, "public-value")
    azure_emulator.vault.set_secret(private, "private-value")
    secrets = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=key)
    secrets.get(private)
    [sealed] = stored(redis_client, prefix)
    redis_client.set(prefix + secrets._shared.key(secrets._ref(public)), sealed)  # someone with write access to Redis
    fresh = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=key)
    assert fresh.get(public) == "public-value"


def test_a_shared_cache_needs_a_key_unless_the_app_says_so(
    azure_emulator, azure_emulator_env, redis_url, redis_client, prefix
):
    with pytest.raises(KeyVaultConfigurationError, match="encryption_key"):
        secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix))
    with pytest.raises(KeyVaultConfigurationError, match="Fernet key") as caught:
        secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key="not-a-key")
    assert "not-a-key" not in str(caught.value)
    name = unique()
    azure_emulator.vault.set_secret(name, "plain")
    secrets = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), allow_unencrypted_shared_cache=True)
    assert secrets.get(name) == "plain"
    assert b"plain" in stored(redis_client, prefix)[0]


def test_the_key_may_itself_be_a_key_vault_reference(
    azure_emulator, azure_emulator_env, redis_url, redis_client, prefix, key
):
    key_name, name = unique("cache-key"), unique()
    azure_emulator.vault.set_secret(key_name, key.decode())
    azure_emulator.vault.set_secret(name, "value")
    reference = secret_uri(azure_emulator.vault, key_name)
    secrets = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=reference)
    assert secrets.get(name) == "value"
    assert secrets.get(key_name) == key.decode()  # the key secret read as data too: no deadlock
    entries = stored(redis_client, prefix)
    assert len(entries) == 2
    for raw in entries:
        Fernet(key).decrypt(raw)  # sealed with the key read from the vault


def test_another_process_sees_a_refresh_when_its_copy_falls_due(
    azure_emulator, azure_emulator_env, redis_url, prefix, key
):
    clock, name = Clock(), unique()
    azure_emulator.vault.set_secret(name, "old")
    one = secrets_for(azure_emulator, clock=clock, shared_cache=shared(redis_url, prefix), encryption_key=key)
    two = secrets_for(azure_emulator, clock=clock, shared_cache=shared(redis_url, prefix), encryption_key=key)
    assert (one.get(name), two.get(name)) == ("old", "old")  # two took it from Redis
    azure_emulator.vault.set_secret(name, "new")
    clock.advance(100)
    one.refresh(name)  # Key Vault now, and a fresh TTL in Redis
    assert (one.get(name), two.get(name)) == ("new", "old")  # two's own copy is not due yet
    clock.advance(200)
    assert two.get(name) == "new"  # due: taken from Redis, where one's refresh is still fresh
    assert azure_emulator.counters[GET] == 2


def test_pinned_versions_are_shared_too(azure_emulator, azure_emulator_env, redis_url, prefix, key):
    name = unique()
    version = azure_emulator.vault.set_secret(name, "pinned").version
    for _ in range(3):
        fresh = secrets_for(azure_emulator, shared_cache=shared(redis_url, prefix), encryption_key=key)
        assert fresh.get(name, version) == "pinned"
    assert azure_emulator.counters[GET] == 1


def test_a_dead_redis_means_reading_key_vault_directly(azure_emulator, azure_emulator_env, prefix, key, caplog):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    dead = RedisSecretCache(f"redis://127.0.0.1:{free_port()}/0", prefix=prefix, socket_timeout=0.5)
    with caplog.at_level(logging.WARNING, logger="appauth_core"):
        assert secrets_for(azure_emulator, shared_cache=dead, encryption_key=key).get(name) == "value"
    assert "shared secret cache failed" in caplog.text
    assert azure_emulator.counters[GET] == 1


def test_redis_cache_basics(redis_url, redis_client, prefix):
    cache = RedisSecretCache(redis_url, prefix=prefix)
    assert isinstance(cache, SupportsAdd)
    assert cache.get("k") is None
    cache.set("k", b"v", 30)
    assert cache.get("k") == b"v"
    assert redis_client.get(prefix + "k") == b"v"
    assert cache.add("k", b"w", 30) is False and cache.add("l", b"w", 30) is True
    cache.delete("k")
    assert cache.get("k") is None
    password_url = redis_url.replace("redis://", "redis://:hunter2@")
    assert "hunter2" not in repr(RedisSecretCache(password_url, prefix=prefix))
    RedisSecretCache(redis_client, prefix=prefix).close()  # a client the app owns is left open
    assert redis_client.ping()
    cache.close()


class DictCache:
    """An engine with get/set/delete only (no ``add``, so no fill lease)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, k):
        return self.data.get(k)

    def set(self, k, v, timeout):
        self.data[k] = v

    def delete(self, k):
        self.data.pop(k, None)


class LeasingDictCache(DictCache):
    def add(self, k, v, timeout):
        if k in self.data:
            return False
        self.data[k] = v
        return True


def test_a_value_stored_just_before_the_lease_is_taken_is_used(key):
    """Another process filled the entry and let go of its lease between our miss and our lease."""
    engine = LeasingDictCache()
    sealed = SealedSharedCache(engine, lambda: Fernet(key), namespace=lambda: "app")
    ref = SecretRef(VaultOrigin("myvault.vault.azure.net"), "db")
    meta = SecretMetadata(name="db", vault_url=ref.vault_url, version="1")
    sealed.write(ref, SharedEntry("value", meta, time.time() + 60), 60)
    with sealed.fill(ref) as filled:
        assert filled is not None and filled.value == "value"
    assert list(engine.data) == [cache_key(ref, "app")]  # the lease is let go


def test_an_engine_without_add_still_works(azure_emulator, azure_emulator_env, key):
    engine, name = DictCache(), unique()
    azure_emulator.vault.set_secret(name, "value")
    assert not isinstance(engine, SupportsAdd)
    for _ in range(2):
        assert secrets_for(azure_emulator, shared_cache=engine, encryption_key=key).get(name) == "value"
    assert azure_emulator.counters[GET] == 1
    assert "SealedSharedCache" in repr(SealedSharedCache(engine, lambda: None, namespace=str))


def test_provider_is_built_lazily_from_the_environment(azure_emulator, azure_emulator_env):
    name = unique()
    azure_emulator.vault.set_secret(name, "value")
    assert KeyVaultSecrets(azure_emulator.vault.url).get(name) == "value"
