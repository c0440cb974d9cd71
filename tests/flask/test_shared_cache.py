"""Issue 6, item 6: secrets shared between processes through Flask-Caching's Redis backend, against a real
``redis-server``. Each app here has its own ``KeyVaultSecrets`` (its own memory cache), standing in for
another worker or host; ``test_gunicorn.py`` does the same across real processes."""

from __future__ import annotations

import uuid

import pytest
import redis
from cryptography.fernet import Fernet
from flask import Flask, g
from flask_caching import Cache

from appauth_core.web import ConfigError
from tests.flask.support import reference

KEY = Fernet.generate_key().decode()


@pytest.fixture
def prefix() -> str:
    return f"appauth-flask-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def redis_app(make_app, redis_url, prefix):
    """An app whose APPAUTH_CACHE is a Flask-Caching RedisCache on the test redis-server."""

    def build(*, cache: Cache | None = None, key: str | None = KEY, **config) -> Flask:
        shared = cache or Cache()

        def setup(app: Flask) -> None:
            app.config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=redis_url, CACHE_KEY_PREFIX=prefix)
            shared.init_app(app)

        settings = {"APPAUTH_CACHE": shared, **config}
        if key is not None:
            settings["APPAUTH_CACHE_ENCRYPTION_KEY"] = key
        return make_app(setup=setup, **settings)

    return build


def _read(app: Flask, name: str) -> str:
    with app.test_request_context("/"):
        app.preprocess_request()
        return str(g.appauth.secret(name))


def _stored(redis_url: str, prefix: str) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return {key: client.get(key) or b"" for key in client.scan_iter(match=f"{prefix}*")}
    finally:
        client.close()


def test_a_second_process_reads_from_redis_not_from_the_vault(redis_app, redis_url, prefix, azure_emulator, canary):
    value = canary("flask-shared")
    assert _read(redis_app(), "flask-shared") == value
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1
    assert _stored(redis_url, prefix), "nothing was written to redis"
    azure_emulator.counters.reset()
    assert _read(redis_app(), "flask-shared") == value
    assert azure_emulator.counters["keyvault.local.get_secret"] == 0


def test_values_in_redis_are_encrypted(redis_app, redis_url, prefix, canary):
    value = canary("flask-shared")
    _read(redis_app(), "flask-shared")
    stored = _stored(redis_url, prefix)
    assert stored
    assert all(value.encode() not in raw for raw in stored.values())


def test_references_at_init_app_use_the_shared_cache(redis_app, azure_emulator, canary):
    value = canary("flask-shared-ref")
    url = azure_emulator.vault.url
    assert redis_app(DB_PASSWORD=reference(url, "flask-shared-ref")).config["DB_PASSWORD"] == value
    azure_emulator.counters.reset()
    assert redis_app(DB_PASSWORD=reference(url, "flask-shared-ref")).config["DB_PASSWORD"] == value
    assert azure_emulator.counters["keyvault.local.get_secret"] == 0


def test_another_encryption_key_cannot_read_the_entry(redis_app, azure_emulator, canary):
    value = canary("flask-shared")
    _read(redis_app(), "flask-shared")
    azure_emulator.counters.reset()
    assert _read(redis_app(key=Fernet.generate_key().decode()), "flask-shared") == value
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1


def test_a_shared_cache_needs_an_encryption_key(redis_app):
    with pytest.raises(ConfigError) as caught:
        redis_app(key=None)
    assert caught.value.key == "APPAUTH_CACHE_ENCRYPTION_KEY"


def test_one_cache_object_on_two_apps_uses_each_apps_backend(make_app, redis_url, canary, azure_emulator):
    """Flask-Caching's ``Cache`` remembers the last app it was initialised on; appauth must use the backend
    of the app it serves (different redis prefixes here), not the last one."""
    value = canary("flask-shared")
    cache = Cache()
    prefixes = [f"appauth-flask-a-{uuid.uuid4().hex[:6]}:", f"appauth-flask-b-{uuid.uuid4().hex[:6]}:"]

    def app_with(prefix: str) -> Flask:
        def setup(app: Flask) -> None:
            app.config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=redis_url, CACHE_KEY_PREFIX=prefix)
            cache.init_app(app)

        return make_app(setup=setup, APPAUTH_CACHE=cache, APPAUTH_CACHE_ENCRYPTION_KEY=KEY)

    first, _second = app_with(prefixes[0]), app_with(prefixes[1])
    assert _read(first, "flask-shared") == value
    assert _stored(redis_url, prefixes[0])
    assert not _stored(redis_url, prefixes[1])


def test_the_encryption_key_may_itself_be_in_key_vault(redis_app, redis_url, prefix, azure_emulator, canary):
    key = Fernet.generate_key().decode()
    azure_emulator.vault.set_secret("flask-cache-key", key)
    value = canary("flask-shared")
    key_reference = reference(azure_emulator.vault.url, "flask-cache-key")
    app = redis_app(key=key_reference)
    assert app.config["APPAUTH_CACHE_ENCRYPTION_KEY"] == key_reference  # read by KeyVaultSecrets, not copied here
    assert _read(app, "flask-shared") == value
    stored = _stored(redis_url, prefix)
    assert stored
    assert all(key.encode() not in raw and value.encode() not in raw for raw in stored.values())
    azure_emulator.counters.reset()
    assert _read(redis_app(key=key_reference), "flask-shared") == value
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1  # the key only; the value came from redis


@pytest.mark.parametrize(
    "key",
    ["not-a-fernet-key-canary-7d1e", "@Microsoft.KeyVault(SecretUri=https://evil.example.test/secrets/k)"],
)
def test_a_bad_encryption_key_names_its_setting_and_is_not_shown(redis_app, key):
    with pytest.raises(ConfigError) as caught:
        redis_app(key=key)
    assert caught.value.key == "APPAUTH_CACHE_ENCRYPTION_KEY"
    if "canary" in key:
        assert key not in str(caught.value)
