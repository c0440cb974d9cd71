"""How a rotation reaches the other processes of an app, seen through ``RotationEvents`` over real
``KeyVaultSecrets`` (the emulator's vault) and a real redis-server: each "process" here is its own
``KeyVaultSecrets`` with its own listener, as each worker has; one test forks for real.

Redis pub/sub tells the others at once and the next reads cost one Key Vault read for all; without pub/sub a
shared cache's epoch does it; with Redis gone the webhook answers 503 (Event Grid delivers again later), the
others keep their value only until its TTL, never past it, and when Redis is back every listener reconnects
and drops what it may have missed."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from cachelib import SimpleCache
from cryptography.fernet import Fernet

from appauth_core import KeyVaultSecrets, RedisSecretCache
from appauth_core.events import RotationEvents, read_events
from appauth_core.web import ObjectCacheAdapter
from tests.events.conftest import wait_until
from tests.events.deliveries import JSON, event_grid_body, secret_event

KEY = Fernet.generate_key()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _settings(azure_emulator, webhook_api):
    return read_events(
        {
            "AUDIENCE": webhook_api.app_id_uri,
            "TENANT_ID": azure_emulator.tenant_id,
            "AUTHORITY": azure_emulator.authority,
        },
        spell="EVENTS['{}']",
    )


@pytest.fixture
def process(azure_emulator, azure_emulator_env, webhook_api):
    """``process(shared, **secrets_options)``: one worker's ``KeyVaultSecrets`` and ``RotationEvents``."""
    made: list[tuple[KeyVaultSecrets, RotationEvents]] = []

    def make(shared, **options) -> tuple[KeyVaultSecrets, RotationEvents]:
        secrets = KeyVaultSecrets(azure_emulator.vault.url, shared_cache=shared, encryption_key=KEY, **options)
        events = RotationEvents(_settings(azure_emulator, webhook_api), secrets, shared)
        made.append((secrets, events))
        return secrets, events

    yield make
    for secrets, events in made:
        events.close()
        secrets.close()


def _deliver(azure_emulator, webhook_api, events, name, **changes):
    token = azure_emulator.event_grid.token(webhook_api.app_id_uri, azure_emulator.tenant_id)
    body = event_grid_body(secret_event(azure_emulator.vault.url, name, **changes))
    status, _, answer = events.handle_delivery("POST", {**JSON, "Authorization": f"Bearer {token}"}, body)
    return status, json.loads(answer)


def _name() -> str:
    return f"invalidated-{uuid.uuid4().hex[:10]}"


def test_pub_sub_tells_the_other_process_and_key_vault_is_read_once(azure_emulator, webhook_api, redis_server, process):
    prefix = f"t-{uuid.uuid4().hex[:6]}:"
    first, first_events = process(RedisSecretCache(redis_server.url, prefix=prefix), cache_seconds=3600)
    second, _ = process(RedisSecretCache(redis_server.url, prefix=prefix), cache_seconds=3600)
    name = _name()
    azure_emulator.vault.set_secret(name, "old")
    assert first.get(name) == second.get(name) == "old"  # both listening from their first read on
    azure_emulator.vault.set_secret(name, "new")
    azure_emulator.counters.reset()
    assert _deliver(azure_emulator, webhook_api, first_events, name) == (
        200,
        {"invalidated": 1, "hooked": 0, "ignored": 0, "replayed": 0},
    )
    wait_until(lambda: second.get(name) == "new", timeout=5)
    assert first.get(name) == "new"
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1


def test_a_shared_cache_without_pub_sub_tells_the_others_through_its_epoch(azure_emulator, webhook_api, process):
    shared = ObjectCacheAdapter(SimpleCache())  # one cache for both, as Django's or Flask-Caching's would be
    first, first_events = process(shared, cache_seconds=3600)
    second, second_events = process(shared, cache_seconds=3600)
    assert "CacheEpochChannel" in repr(second_events)
    name = _name()
    azure_emulator.vault.set_secret(name, "old")
    assert first.get(name) == second.get(name) == "old"
    azure_emulator.vault.set_secret(name, "new")
    azure_emulator.counters.reset()
    assert _deliver(azure_emulator, webhook_api, first_events, name)[0] == 200
    wait_until(lambda: second.get(name) == "new", timeout=5)
    assert first.get(name) == "new"
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1


def test_with_redis_down_nothing_is_served_past_its_ttl_and_the_listeners_reconnect(
    azure_emulator, webhook_api, redis_server, process
):
    prefix = f"t-{uuid.uuid4().hex[:6]}:"
    clock = Clock()
    first, first_events = process(RedisSecretCache(redis_server.url, prefix=prefix), cache_seconds=60)
    second, _ = process(RedisSecretCache(redis_server.url, prefix=prefix), cache_seconds=60, clock=clock, rng=lambda: 0)
    name = _name()
    azure_emulator.vault.set_secret(name, "old")
    assert first.get(name) == second.get(name) == "old"
    redis_server.stop()
    azure_emulator.vault.set_secret(name, "new")
    status, body = _deliver(azure_emulator, webhook_api, first_events, name)
    assert status == 503 and "deliver it again" in body["error"]
    assert first.get(name) == "new"  # the receiving process forgot it, and read Key Vault directly
    assert second.get(name) == "old"  # not told: it keeps its value for its TTL ...
    clock.now += 61
    assert second.get(name) == "new"  # ... and not a moment past it, though the shared cache is down
    azure_emulator.vault.set_secret(name, "newest")
    redis_server.start()
    wait_until(lambda: second.get(name) == "newest", timeout=15)  # reconnected: what it held is dropped
    event_id = str(uuid.uuid4())
    azure_emulator.vault.set_secret(name, "after the restart")
    assert _deliver(azure_emulator, webhook_api, first_events, name, id=event_id)[0] == 200
    wait_until(lambda: second.get(name) == "after the restart", timeout=5)


def test_a_forked_child_listens_for_itself(azure_emulator, webhook_api, redis_server, process):
    """The child inherits the parent's cached value and its listener's state but not its thread: it forgets the
    inherited value once it listens, and hears the parent's announcement."""
    prefix = f"t-{uuid.uuid4().hex[:6]}:"
    secrets, events = process(RedisSecretCache(redis_server.url, prefix=prefix), cache_seconds=3600)
    name = _name()
    azure_emulator.vault.set_secret(name, "inherited")
    assert secrets.get(name) == "inherited"
    ready_read, ready_write = os.pipe()
    done_read, done_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it serves, then wait for the parent's rotation
        try:
            os.write(ready_write, secrets.get(name).encode() + b"\n")
            deadline = time.monotonic() + 10
            while secrets.get(name) != "rotated" and time.monotonic() < deadline:
                time.sleep(0.02)
            os.write(done_write, secrets.get(name).encode())
        finally:
            os._exit(0)
    try:
        assert os.read(ready_read, 100) == b"inherited\n"
        azure_emulator.vault.set_secret(name, "rotated")
        assert _deliver(azure_emulator, webhook_api, events, name)[0] == 200
        assert os.read(done_read, 100) == b"rotated"
    finally:
        os.waitpid(pid, 0)


def test_nothing_published_on_the_channel_stops_a_worker_listening(azure_emulator, webhook_api, redis_server, process):
    """Anyone who can publish on the Redis channel chooses the message: JSON nested past the parser's depth,
    a message larger than any invalidation, JSON of the wrong shape and bytes that are not JSON are each
    dropped, and the worker still hears the next real invalidation."""
    import redis

    prefix = f"t-{uuid.uuid4().hex[:6]}:"
    first, first_events = process(RedisSecretCache(redis_server.url, prefix=prefix), cache_seconds=3600)
    second, _ = process(RedisSecretCache(redis_server.url, prefix=prefix), cache_seconds=3600)
    name = _name()
    azure_emulator.vault.set_secret(name, "old")
    assert first.get(name) == second.get(name) == "old"  # both listening
    client = redis.Redis.from_url(redis_server.url)
    try:
        for poison in (b"[" * 100_000, b'{"v": "' + b"x" * 10_000 + b'"}', b'{"v": 1}', b"\xff\xfe not json", b"[]"):
            client.publish(f"{prefix}invalidations", poison)
    finally:
        client.close()
    azure_emulator.vault.set_secret(name, "new")
    assert _deliver(azure_emulator, webhook_api, first_events, name)[0] == 200
    wait_until(lambda: second.get(name) == "new", timeout=5)


def test_two_workers_handling_one_delivery_at_once_act_on_it_once(azure_emulator, webhook_api, redis_server, process):
    """Event Grid may deliver one event twice at the same moment (a retry after a slow answer), to two workers:
    the replay memory claims the event with the shared cache's set-if-absent before acting, so exactly one acts
    and the other answers that it was replayed, every time."""
    import threading

    prefix = f"t-{uuid.uuid4().hex[:6]}:"
    workers = [process(RedisSecretCache(redis_server.url, prefix=prefix), cache_seconds=3600)[1] for _ in range(2)]
    token = azure_emulator.event_grid.token(webhook_api.app_id_uri, azure_emulator.tenant_id)
    headers = {**JSON, "Authorization": f"Bearer {token}"}
    for _ in range(10):
        body = event_grid_body(secret_event(azure_emulator.vault.url, _name()))
        barrier = threading.Barrier(2)
        answers: list[dict[str, int]] = []

        def deliver(events: RotationEvents, body: bytes, barrier: threading.Barrier, answers: list) -> None:
            barrier.wait()
            status, _, answer = events.handle_delivery("POST", headers, body)
            assert status == 200
            answers.append(json.loads(answer))

        threads = [threading.Thread(target=deliver, args=(events, body, barrier, answers)) for events in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted((a["ignored"] + a["invalidated"], a["replayed"]) for a in answers) == [(0, 1), (1, 0)]


@pytest.mark.parametrize("key", ["REQUIRED_ROLES", "ALLOWED_CLIENT_IDS", "ALLOWED_ORIGINS"])
def test_an_empty_list_that_would_let_anyone_deliver_is_refused(azure_emulator, webhook_api, key):
    """Without a required role, any app Event Grid can get a token for this audience (any that does not
    require user assignment) could deliver forged Key Vault events: an empty list is a ConfigError, not
    "accept all"."""
    from appauth_core import ConfigError

    with pytest.raises(ConfigError, match=r"EVENTS\['" + key + r"'\] cannot be empty") as refused:
        read_events(
            {"AUDIENCE": webhook_api.app_id_uri, "TENANT_ID": azure_emulator.tenant_id, key: []},
            spell="EVENTS['{}']",
        )
    assert refused.value.key == f"EVENTS['{key}']"
