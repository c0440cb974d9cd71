"""Load with faults: many threads at once against the token and secret caches while the endpoints behind them
stumble. Every call ends in a value or a typed error, the endpoints see a bounded number of requests (one
flight per key, not one per caller), a rotation is never seen to go backwards, and nothing hangs.

These are bounded checks, not benchmarks (``make bench`` measures speed).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from appauth_core import AppAuthError, AzureServiceTokenProvider, KeyVaultSecrets
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache

from .support import bounded

VAULT = "https://vault.azure.net"
LIMIT = 60.0  # the hang guard for a whole load run


def _all_at_once(threads: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` on ``threads`` threads released together; returns each result (or the exception it raised)."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def run(index: int) -> None:
        barrier.wait(10)
        try:
            results[index] = work(index)
        except Exception as exc:  # the test judges it
            results[index] = exc

    pool = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    outcome = bounded(lambda: [thread.join() for thread in pool], LIMIT)
    assert outcome.finished, f"{threads} threads still running after {LIMIT:g} s: a hang"
    return results


def test_a_cold_herd_while_the_identity_endpoint_stumbles(azure_emulator: AzureEmulator) -> None:
    """64 callers at once on a cold cache; the first answer is a slow 503. One flight: the 503, its retry."""
    azure_emulator.faults.inject("mi.app_service", status=503, delay=0.3, body={"statusCode": 503, "message": "busy"})
    provider = AzureServiceTokenProvider(
        "RunAs=App;MsiRetryTimeout=10", cache=TokenCache(), environ=azure_emulator.app_service_env()
    )
    tokens = _all_at_once(64, lambda _: provider.get_access_token(VAULT))
    assert all(isinstance(token, str) for token in tokens), [t for t in tokens if not isinstance(t, str)][:3]
    assert len(set(tokens)) == 1
    assert azure_emulator.counters["mi.app_service"] == 2


def test_a_cold_herd_when_the_identity_endpoint_is_down(azure_emulator: AzureEmulator) -> None:
    """Everybody gets the same typed error from one flight, within MsiRetryTimeout, not one flight each."""
    azure_emulator.faults.inject("mi.app_service", status=503, body={"statusCode": 503, "message": "down"}, times=50)
    provider = AzureServiceTokenProvider(
        "RunAs=App;MsiRetryTimeout=1", cache=TokenCache(), environ=azure_emulator.app_service_env()
    )
    errors = _all_at_once(64, lambda _: provider.get_access_token(VAULT))
    assert all(isinstance(error, AppAuthError) for error in errors), {type(e).__name__ for e in errors}
    assert azure_emulator.counters["mi.app_service"] <= 2  # one flight: the first try and one retry in 1 s


@pytest.mark.parametrize("threads", [16])
def test_secrets_through_a_flapping_vault_and_a_rotation(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str], threads: int
) -> None:
    """Ten TTLs go by; every other re-read fails (503). Callers keep getting a value, never an error; the value
    rotates once and no caller sees the old one again after the new one; Key Vault sees about one read per TTL."""
    name = f"load-{uuid.uuid4().hex[:8]}"
    azure_emulator.vault.set_secret(name, "old-value")
    now = [1_900_000_000.0]
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache())
    secrets = KeyVaultSecrets(
        azure_emulator.vault.url,
        provider,
        cache_seconds=10,
        stale_seconds=600,
        client_options={"retry_total": 0},
        clock=lambda: now[0],
        rng=lambda: 0.0,
    )
    assert secrets.get(name) == "old-value"
    seen: list[list[str]] = [[] for _ in range(threads)]
    ttls = 10
    for ttl in range(ttls):
        if ttl == ttls // 2:
            azure_emulator.vault.set_secret(name, "new-value")
        if ttl % 2:
            body = {"error": {"code": "ServiceUnavailable", "message": "try later"}}
            azure_emulator.faults.inject("keyvault.local.get_secret", status=503, body=body)
        now[0] += 10.5
        results = _all_at_once(threads, lambda i: [seen[i].append(secrets.get(name)) for _ in range(50)])
        assert not [r for r in results if isinstance(r, BaseException)], results
        azure_emulator.faults.clear()
    for values in seen:
        assert set(values) <= {"old-value", "new-value"}
        if "new-value" in values:
            assert "old-value" not in values[values.index("new-value") :]  # a rotation never goes backwards
    assert any(values[-1] == "new-value" for values in seen)
    reads = azure_emulator.counters["keyvault.local.get_secret"]
    assert reads <= 1 + ttls, reads  # one read per TTL at most (a failed one backs off), however many callers


def test_a_flask_app_under_load(azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> None:
    """16 clients, 40 requests each, to a view that reads a secret: all answered, one Key Vault read."""
    from flask import Flask, g

    from appauth_flask import AppAuth

    name = f"load-{uuid.uuid4().hex[:8]}"
    azure_emulator.vault.set_secret(name, "served")
    app = Flask(f"load_{uuid.uuid4().hex[:8]}")
    app.config.update(TESTING=True, APPAUTH_KEY_VAULT_URL=azure_emulator.vault.url)
    AppAuth(app)

    @app.get("/")
    def index() -> str:
        return g.appauth.secret(name)

    def client(_: int) -> list[tuple[int, str]]:
        with app.test_client() as browser:
            return [(r.status_code, r.get_data(as_text=True)) for r in (browser.get("/") for _ in range(40))]

    answers = _all_at_once(16, client)
    assert all(isinstance(a, list) for a in answers), answers
    assert {answer for per_client in answers for answer in per_client} == {(200, "served")}
    assert azure_emulator.counters["keyvault.local.get_secret"] == 1
