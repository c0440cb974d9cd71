"""A process forked after appauth was used (gunicorn --preload, Celery prefork) gets working locks, no
inherited flights and no inherited connections, and keeps the cached tokens and secrets (fork_safety).

Each check forks the test process for real; the child reports through a pipe and always leaves with
``os._exit``, and an alarm kills a child that hangs, which the parent reports as a hang.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest

from appauth_core import AzureServiceTokenProvider, KeyVaultSecrets
from appauth_core._internal.single_flight import SingleFlight
from appauth_core.testing import AzureEmulator
from appauth_core.tokens._cache import TokenCache

from .secrets_support import unique

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")

CHILD_LIMIT = 60  # seconds before the alarm kills a child: a hang, reported as such (generous: shared machines)


def in_children(work: Callable[[int], Any], children: int = 1) -> list[Any]:
    """``work(i)`` in ``children`` forked processes running at once; each one's JSON-able result."""
    running = []
    for index in range(children):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                os.close(read_end)
                signal.alarm(CHILD_LIMIT)
                reply = {"ok": work(index)}
                code = 0
            except BaseException as exc:
                reply = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
            finally:
                try:
                    os.write(write_end, json.dumps(reply).encode())
                finally:
                    os._exit(code)
        os.close(write_end)
        running.append((pid, read_end))
    results = []
    for pid, read_end in running:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert not os.WIFSIGNALED(status), f"child {pid} killed by signal {os.WTERMSIG(status)}: a hang"
        reply = json.loads(data)
        assert "error" not in reply, reply["error"]
        results.append(reply["ok"])
    return results


def test_a_flight_under_way_at_the_fork_does_not_hold_up_the_child() -> None:
    flights: SingleFlight[str] = SingleFlight()
    gate, started = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        assert gate.wait(30)
        return "parent's"

    leader = threading.Thread(target=lambda: flights.run("token", slow), daemon=True)
    leader.start()
    assert started.wait(10)
    try:
        # Without the reset the child's call joins the parent's flight, whose thread is not in the child.
        assert in_children(lambda _: flights.run("token", lambda: "child's")) == ["child's"]
    finally:
        gate.set()
        leader.join(10)


def test_a_lock_held_by_another_thread_at_the_fork_is_free_in_the_child() -> None:
    cache = TokenCache()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cache._lock:
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(10)
    try:
        assert in_children(lambda _: (cache.clear(), len(cache))[1]) == [0]
    finally:
        release.set()
        holder.join(10)


def test_tokens_cached_before_the_fork_are_kept_and_new_ones_use_new_connections(
    azure_emulator: AzureEmulator,
) -> None:
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=azure_emulator.app_service_env())
    parent_token = provider.get_access_token("https://vault.azure.net")
    assert azure_emulator.counters["mi.app_service"] == 1  # the pool now holds a kept-alive connection

    def child(_: int) -> dict[str, Any]:
        kept = provider.get_access_token("https://vault.azure.net") == parent_token
        fresh = [provider.get_access_token("https://management.azure.com", force_refresh=True) for _ in range(10)]
        return {"kept": kept, "fresh": len(set(fresh))}

    results = in_children(child, children=4)
    assert results == [{"kept": True, "fresh": 10}] * 4
    assert azure_emulator.counters["mi.app_service"] == 1 + 4 * 10  # nothing fetched again for the kept token
    # The parent's own connection still works after its children closed their copies of it.
    assert provider.get_access_token("https://storage.azure.com", force_refresh=True)


def test_children_read_secrets_over_tls_without_sharing_the_parents_connection(
    azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]
) -> None:
    """No retries: a TLS connection shared by several processes shows up as a failed read, not a retried one."""
    names = [unique("fork") for _ in range(3)]
    for name in names:
        azure_emulator.vault.set_secret(name, f"value of {name}")
    secrets = KeyVaultSecrets(
        azure_emulator.vault.url,
        AzureServiceTokenProvider(cache=TokenCache()),
        cache_seconds=300,
        client_options={"retry_total": 0},
    )
    assert secrets.get(names[0]) == f"value of {names[0]}"  # a kept-alive TLS connection in the parent's pool
    reads_before = azure_emulator.counters["keyvault.local.get_secret"]

    def child(_: int) -> list[str]:
        values = [secrets.get(names[0])]  # cached in the parent: no read
        for _round in range(8):
            secrets.refresh()
            values.extend(secrets.get(name) for name in names)
        return sorted(set(values))

    expected = sorted(f"value of {name}" for name in names)
    assert in_children(child, children=4) == [expected] * 4
    assert azure_emulator.counters["keyvault.local.get_secret"] >= reads_before + 4 * 8
    assert secrets.get(names[1]) == f"value of {names[1]}"  # and the parent carries on
    secrets.close()


def test_the_django_adapters_module_locks_are_new_in_the_child() -> None:
    from appauth_django import resolution, secret_values

    with secret_values._lock, resolution._lock:  # held in the parent at the fork
        locked = in_children(lambda _: [secret_values._lock.locked(), resolution._lock.locked()])
    assert locked == [[False, False]]
