"""APPAUTH['CACHE']: a Django cache (here Django's own RedisCache on a real redis-server) shared by
processes, holding only encrypted values."""

from __future__ import annotations

import pytest
import redis
from cryptography.fernet import Fernet
from django.core.cache import caches

from appauth_core.keyvault import SupportsAdd
from appauth_core.web import ObjectCacheAdapter
from appauth_django import conf
from appauth_django.cache import AliasCache


@pytest.fixture
def redis_cache_settings(appauth_settings, redis_url):
    appauth_settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "secrets": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url, "KEY_PREFIX": "t"},
    }
    appauth_settings.APPAUTH = {
        **appauth_settings.APPAUTH,
        "CACHE": "secrets",
        "CACHE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield appauth_settings
    client.flushdb()
    client.close()


def test_values_are_shared_between_processes_and_encrypted(
    redis_cache_settings, redis_url, azure_emulator, vault_secrets
):
    assert conf.get_services().secret("db-password") == vault_secrets["db-password"]
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1

    client = redis.Redis.from_url(redis_url)
    stored = [client.get(key) for key in client.keys("*")]
    assert stored, "nothing reached redis"
    assert all(vault_secrets["db-password"].encode() not in value for value in stored)

    conf.reload()  # a new process: empty in-process cache, same redis and key
    assert conf.get_services().secret("db-password") == vault_secrets["db-password"]
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1  # served from redis


def test_another_key_cannot_read_the_entries(redis_cache_settings, azure_emulator, vault_secrets):
    conf.get_services().secret("api-key")
    redis_cache_settings.APPAUTH = {
        **redis_cache_settings.APPAUTH,
        "CACHE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    assert conf.get_services().secret("api-key") == vault_secrets["api-key"]
    assert azure_emulator.counters["keyvault.local.get_secret"] == 2  # could not open it: read Key Vault


def test_request_appauth_uses_it(client, redis_cache_settings, azure_emulator, vault_secrets):
    assert client.get("/secret/sync", {"name": "api-key"}).json()["value"] == vault_secrets["api-key"]
    conf.reload()
    assert client.get("/secret/sync", {"name": "api-key"}).json()["value"] == vault_secrets["api-key"]
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1


def test_the_adapter_over_a_django_cache(redis_cache_settings):
    adapter = ObjectCacheAdapter(AliasCache("secrets"))
    assert isinstance(adapter, SupportsAdd)  # Django caches have add: the fill lease works
    adapter.set("k", b"\x00bytes", 0.2)
    assert adapter.get("k") == b"\x00bytes"
    assert adapter.add("k", b"other", 5) is False
    assert adapter.add("lease", b"1", 5) is True
    adapter.delete("k")
    assert adapter.get("k") is None
    adapter.set("k", b"v", 0)  # never "forever": a non-positive timeout deletes
    assert adapter.get("k") is None
    caches["secrets"].set("foreign", "a str, not bytes")
    assert adapter.get("foreign") is None
