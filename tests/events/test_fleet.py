"""A rotation seen by every worker of a real gunicorn fleet (4 workers, a one-hour TTL) of a Django and of a
Flask site within a second, with Key Vault read once per rotation for the whole fleet, delivered by the
emulator's Event Grid (the Event Grid schema to one site, CloudEvents to the other, handshakes first); and
with Redis restarted mid-run, a rotation made while it was down still reaching every worker once the
listeners reconnect.

These are the test sites of this folder under real gunicorn, not the demo sites (their wiring is separate)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests
from cryptography.fernet import Fernet

from tests.conftest import stop_process
from tests.django.servers import free_port, site_env, wait_until_serving
from tests.events.conftest import wait_until

WORKERS = 4
KEY = Fernet.generate_key().decode()
REPO = Path(__file__).resolve().parents[2]


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def fleet(azure_emulator, webhook_api, redis_server, tmp_path) -> Iterator[Callable[[str], str]]:
    """``fleet("flask" | "django")``: that site under gunicorn with 4 workers, its base URL."""
    started: list[subprocess.Popen[bytes]] = []

    def start(kind: str) -> str:
        port = free_port()
        prefix = f"appauth-fleet-{uuid.uuid4().hex[:8]}:"
        common = {
            "EVENTS_TEST_VAULT_URL": azure_emulator.vault.url,
            "EVENTS_TEST_REDIS_URL": redis_server.url,
            "EVENTS_TEST_PREFIX": prefix,
            "EVENTS_TEST_ENCRYPTION_KEY": KEY,
            "EVENTS_TEST_AUDIENCE": webhook_api.app_id_uri,
            "EVENTS_TEST_TENANT_ID": azure_emulator.tenant_id,
            "EVENTS_TEST_AUTHORITY": azure_emulator.authority,
        }
        if kind == "django":
            app, extra = (
                "django.core.wsgi:get_wsgi_application()",
                {"DJANGO_SETTINGS_MODULE": "tests.events.django_site"},
            )
        else:
            app = "tests.events.flask_site:create_app()"
            extra = {
                "FLASK_APPAUTH_KEY_VAULT_URL": azure_emulator.vault.url,
                "FLASK_APPAUTH_SECRET_CACHE_SECONDS": "3600",
                "FLASK_APPAUTH_CACHE_ENCRYPTION_KEY": KEY,
                "FLASK_EVENTS_TEST_REDIS_URL": redis_server.url,
                "FLASK_EVENTS_TEST_PREFIX": prefix,
                "FLASK_APPAUTH_EVENTS_AUDIENCE": webhook_api.app_id_uri,
                "FLASK_APPAUTH_EVENTS_TENANT_ID": azure_emulator.tenant_id,
                "FLASK_APPAUTH_EVENTS_AUTHORITY": azure_emulator.authority,
            }
        log = tmp_path / f"{kind}-{port}.log"
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
                   "--timeout", "30", "--graceful-timeout", "5", app]  # fmt: skip
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=site_env(azure_emulator.process_env(), **common, **extra),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        started.append(process)
        wait_until_serving(process, port, log)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        stop_process(process, 10)


def _every_worker_serves(site: str, name: str, value: str, *, limit: int = 400) -> set[int]:
    """Ask (new connection each time, so every worker gets asked) until each of the 4 workers answered
    ``value``; the pids. Bounded in requests."""
    serving: set[int] = set()
    for _ in range(limit):
        page = requests.get(f"{site}/secret/{name}", timeout=30, headers={"Connection": "close"}).json()
        if page["sha256"] == _sha(value):
            serving.add(page["pid"])
        if len(serving) == WORKERS:
            return serving
    raise AssertionError(f"only {len(serving)} of {WORKERS} workers served the value after {limit} requests")


def _rotate_and_time(azure_emulator, site: str, name: str, value: str) -> float:
    """Set ``value`` in the vault (Event Grid delivers it) and return the seconds until every worker serves it."""
    started = time.monotonic()
    azure_emulator.vault.set_secret(name, value)
    _every_worker_serves(site, name, value)
    return time.monotonic() - started


def _listeners(redis_url: str, count: int) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        wait_until(lambda: sum(n for _, n in client.pubsub_numsub(*client.pubsub_channels())) >= count, timeout=20)
    finally:
        client.close()


@pytest.mark.parametrize(("kind", "schema"), [("flask", "EventGridSchema"), ("django", "CloudEventSchema")])
def test_a_rotation_reaches_every_worker_within_a_second_and_key_vault_is_read_once(
    azure_emulator, webhook_api, redis_server, fleet, kind, schema
):
    name = f"fleet-{kind}-{uuid.uuid4().hex[:8]}"
    azure_emulator.vault.set_secret(name, "version one")
    site = fleet(kind)
    subscription = azure_emulator.subscribe_events(f"{site}/appauth/events/", schema=schema,
                                                   audience=webhook_api.app_id_uri)  # fmt: skip
    try:
        assert len(_every_worker_serves(site, name, "version one")) == WORKERS  # each holds it for an hour now
        _listeners(redis_server.url, WORKERS)
        azure_emulator.counters.reset()
        elapsed = _rotate_and_time(azure_emulator, site, name, "version two")
        assert elapsed < 1.0, f"the rotation took {elapsed:.3f} s to reach every worker"
        assert azure_emulator.counters["keyvault.local.get_secret"] == 1  # once for the fleet, not once per worker
        assert [attempt.status for attempt in subscription.attempts] == [200]

        # Redis goes away; a rotation made meanwhile cannot be announced (the webhook answers 503, Event Grid
        # retries and gives up here); when Redis is back, every listener reconnects and drops what it held.
        redis_server.stop()
        azure_emulator.vault.set_secret(name, "version three")
        subscription.wait_for(4)  # the first delivery and its retries
        assert {attempt.status for attempt in subscription.attempts[1:]} == {503}
        redis_server.start()
        _listeners(redis_server.url, WORKERS)
        _every_worker_serves(site, name, "version three")

        # and announcements flow again: Key Vault is read once more for the next rotation
        azure_emulator.counters.reset()
        elapsed = _rotate_and_time(azure_emulator, site, name, "version four")
        assert elapsed < 1.0, f"after the restart the rotation took {elapsed:.3f} s to reach every worker"
        assert azure_emulator.counters["keyvault.local.get_secret"] == 1
    finally:
        subscription.close()
