"""``APPAUTH['CACHE']`` as a ``RedisSecretCache``: for a Redis shared with anything less trusted than the app.
Django's own ``RedisCache`` unpickles what it reads, so whoever can write to that Redis runs code in the app;
``RedisSecretCache`` only ever hands bytes to the decryption, so a planted pickle is a miss, nothing more."""

from __future__ import annotations

import os
import pickle
import uuid
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet

from appauth_core import RedisSecretCache
from appauth_django import conf

GET = "keyvault.local.get_secret"


class Planted:
    """What someone with write access to Redis stores: a pickle that creates ``path`` when it is loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (str(self.path),))


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _entry_key(name: str) -> str:
    services = conf.get_services()
    return services.secrets._shared.key(services.secrets._ref(name))


def test_values_are_shared_through_a_redis_secret_cache(appauth_settings, redis_url, redis_client, azure_emulator,
                                                        vault_secrets):  # fmt: skip
    prefix, key = f"appauth-django-{uuid.uuid4().hex[:8]}:", Fernet.generate_key()
    appauth_settings.APPAUTH = {
        **appauth_settings.APPAUTH,
        "CACHE": RedisSecretCache(redis_url, prefix=prefix),
        "CACHE_ENCRYPTION_KEY": key.decode(),
    }
    assert conf.get_services().secret("db-password") == vault_secrets["db-password"]
    [stored] = [redis_client.get(k) for k in redis_client.keys(prefix + "kv:*")]
    assert Fernet(key).decrypt(stored)  # the sealed entry itself, not a pickle of it
    conf.reload()  # another process: served from Redis
    assert conf.get_services().secret("db-password") == vault_secrets["db-password"]
    assert azure_emulator.counters[GET] == 1


def test_a_pickle_planted_in_redis_is_never_loaded(appauth_settings, redis_url, redis_client, azure_emulator,
                                                   vault_secrets, tmp_path):  # fmt: skip
    prefix, key = f"appauth-django-{uuid.uuid4().hex[:8]}:", Fernet.generate_key().decode()
    appauth_settings.APPAUTH = {
        **appauth_settings.APPAUTH,
        "CACHE": RedisSecretCache(redis_url, prefix=prefix),
        "CACHE_ENCRYPTION_KEY": key,
    }
    marker = tmp_path / "ran"
    redis_client.set(prefix + _entry_key("api-key"), pickle.dumps(Planted(marker)))
    assert conf.get_services().secret("api-key") == vault_secrets["api-key"]  # a miss: read from Key Vault
    assert not marker.exists()


def test_djangos_own_redis_cache_does_load_it(appauth_settings, redis_url, redis_client, vault_secrets, tmp_path):
    """Why the README says so: the same planted entry, read through Django's RedisCache, runs."""
    appauth_settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "secrets": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url,
                    "KEY_PREFIX": f"t{uuid.uuid4().hex[:6]}"},
    }  # fmt: skip
    appauth_settings.APPAUTH = {
        **appauth_settings.APPAUTH,
        "CACHE": "secrets",
        "CACHE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    from django.core.cache import caches

    marker = tmp_path / "ran"
    entry = _entry_key("api-key")
    redis_client.set(caches["secrets"].make_and_validate_key(entry), pickle.dumps(Planted(marker)))
    assert conf.get_services().secret("api-key") == vault_secrets["api-key"]
    assert marker.exists()  # Django unpickled it while appauth asked for the entry
