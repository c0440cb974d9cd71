"""The secret cache's own bookkeeping, with a controllable clock and a counting loader (the Key Vault side is
tested against the emulator in test_secrets.py)."""

from __future__ import annotations

import copy
import logging
import math
import threading

import pytest

from appauth_core.errors import (
    AzureServiceTokenProviderError,
    KeyVaultUnavailableError,
    SecretAccessDeniedError,
    SecretNotFoundError,
)
from appauth_core.keyvault import _secret_cache as secret_cache
from appauth_core.keyvault._secret_cache import BACKOFF_MAX, NEGATIVE_SECONDS, CachedSecret, SecretCache, backoff
from appauth_core.keyvault._vault_client import SecretMetadata

from .secrets_support import Clock

TTL, STALE = 300.0, 3600.0
META = SecretMetadata(name="db", vault_url="https://v.vault.azure.net/", version="1")


class Loader:
    """Counts loads; can block on a gate or fail with a queued error."""

    def __init__(self, clock: Clock, *, ttl: float = TTL) -> None:
        self.clock, self.ttl, self.calls = clock, ttl, 0
        self.errors: list[Exception] = []
        self.gate: threading.Event | None = None
        self._lock = threading.Lock()

    def __call__(self) -> CachedSecret:
        with self._lock:
            self.calls += 1
            number = self.calls
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        if self.errors:
            raise self.errors.pop(0)
        refresh_at = self.clock.now + self.ttl
        return CachedSecret(f"value-{number}", META, refresh_at, refresh_at + STALE)


def unavailable(retry_after: float | None = None) -> KeyVaultUnavailableError:
    return KeyVaultUnavailableError("secret 'db' in https://v/ could not be read", retry_after=retry_after)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    return SecretCache(clock)


def test_hits_do_not_load(cache, clock):
    load = Loader(clock)
    assert cache.get("k", load).value == "value-1"
    for _ in range(100):
        assert cache.get("k", load).value == "value-1"
    assert cache.peek("k").value == "value-1"
    assert load.calls == 1


def test_concurrent_cold_callers_share_one_load(cache, clock):
    load = Loader(clock)
    load.gate = threading.Event()
    values: list[str] = []
    threads = [threading.Thread(target=lambda: values.append(cache.get("k", load).value)) for _ in range(32)]
    for thread in threads:
        thread.start()
    while load.calls == 0:
        threading.Event().wait(0.01)
    load.gate.set()
    for thread in threads:
        thread.join(10)
    assert values == ["value-1"] * 32
    assert load.calls == 1


def test_a_due_value_is_refreshed_by_one_caller_while_the_others_keep_it(cache, clock, monkeypatch):
    monkeypatch.setattr(secret_cache, "REFRESH_WAIT", 30.0)  # the refresh is quick (the gate opens below)
    load = Loader(clock)
    cache.get("k", load)
    clock.advance(TTL)
    load.gate = threading.Event()
    refreshed: list[str] = []
    leader = threading.Thread(target=lambda: refreshed.append(cache.get("k", load).value))
    leader.start()
    while load.calls < 2:
        threading.Event().wait(0.01)
    assert [cache.get("k", load).value for _ in range(10)] == ["value-1"] * 10  # nobody waits for the refresh
    assert cache.peek("k") is None  # but the fast path does not hand out a due value
    load.gate.set()
    leader.join(10)
    assert refreshed == ["value-2"]  # the one who started it waited for it
    assert cache.get("k", load).value == "value-2"
    assert load.calls == 2


def test_a_slow_refresh_holds_nobody_up(cache, clock, monkeypatch):
    monkeypatch.setattr(secret_cache, "REFRESH_WAIT", 0.05)
    load = Loader(clock)
    cache.get("k", load)
    clock.advance(TTL)
    load.gate = threading.Event()
    assert cache.get("k", load).value == "value-1"  # the re-read goes on in the background
    assert load.calls == 2
    assert cache.get("k", load).value == "value-1"  # and is not started twice
    load.gate.set()
    for _ in range(1000):  # at most 10 s for the background re-read to land
        if cache.peek("k") is not None:
            break
        threading.Event().wait(0.01)
    assert cache.get("k", load).value == "value-2"
    assert load.calls == 2


def test_stale_if_error_with_exponential_backoff(cache, clock, caplog):
    load = Loader(clock)
    cache.get("k", load, label="secret db")
    clock.advance(TTL)
    load.errors = [unavailable(), unavailable()]
    with caplog.at_level(logging.WARNING, logger="appauth_core"):
        assert cache.get("k", load, label="secret db").value == "value-1"
    assert "secret db" in caplog.text and "value-1" not in caplog.text
    assert cache.get("k", load).value == "value-1"  # within the backoff: no new attempt
    assert load.calls == 2
    clock.advance(backoff(1, None))
    assert cache.get("k", load).value == "value-1"  # second failure: the backoff doubles
    assert load.calls == 3
    clock.advance(backoff(1, None))
    assert cache.get("k", load).value == "value-1"
    assert load.calls == 3
    clock.advance(backoff(2, None))
    assert cache.get("k", load).value == "value-4"
    assert load.calls == 4


def test_retry_after_longer_than_the_backoff_is_honoured(cache, clock):
    load = Loader(clock)
    cache.get("k", load)
    clock.advance(TTL)
    load.errors = [unavailable(retry_after=120)]
    assert cache.get("k", load).value == "value-1"
    clock.advance(119)
    assert cache.get("k", load).value == "value-1"
    assert load.calls == 2
    clock.advance(1)
    assert cache.get("k", load).value == "value-3"


def test_token_failures_are_survived_too(cache, clock):
    load = Loader(clock)
    cache.get("k", load)
    clock.advance(TTL)
    load.errors = [AzureServiceTokenProviderError("managed identity endpoint did not answer")]
    assert cache.get("k", load).value == "value-1"


def test_stale_values_are_served_for_a_bounded_time_only(cache, clock):
    load = Loader(clock)
    cache.get("k", load)
    load.errors = [unavailable()] * 500
    clock.advance(TTL)
    while clock.now < 1_900_000_000.0 + TTL + STALE - BACKOFF_MAX:
        assert cache.get("k", load).value == "value-1"
        clock.advance(BACKOFF_MAX)
    clock.advance(BACKOFF_MAX)
    with pytest.raises(KeyVaultUnavailableError):
        cache.get("k", load)
    assert cache.peek("k") is None


@pytest.mark.parametrize("answer", [SecretNotFoundError("gone"), SecretAccessDeniedError("revoked")])
def test_an_authoritative_no_drops_the_value(cache, clock, answer):
    load = Loader(clock)
    cache.get("k", load)
    clock.advance(TTL)
    load.errors = [answer]
    with pytest.raises(type(answer)):
        cache.get("k", load)
    assert len(cache) == 0
    for _ in range(10):  # the "no" is remembered briefly: not one read per caller
        with pytest.raises(type(answer)):
            cache.get("k", load)
    assert load.calls == 2
    clock.advance(NEGATIVE_SECONDS)
    assert cache.get("k", load).value == "value-3"


def test_force_asks_again_at_once_after_a_no(cache, clock):
    load = Loader(clock)
    load.errors = [SecretNotFoundError("not yet")]
    with pytest.raises(SecretNotFoundError):
        cache.get("k", load)
    assert cache.get("k", load, force=True).value == "value-2"  # created meanwhile; refresh() sees it now


def test_a_never_read_secret_raises_and_backs_off(cache, clock):
    load = Loader(clock)
    load.errors = [unavailable(retry_after=30)]
    with pytest.raises(KeyVaultUnavailableError):
        cache.get("k", load)
    for _ in range(10):  # an outage is not met with one request per caller
        with pytest.raises(KeyVaultUnavailableError) as caught:
            cache.get("k", load)
        assert caught.value.retry_after == 30
    assert load.calls == 1
    clock.advance(30)
    assert cache.get("k", load).value == "value-2"


def test_force_reads_now_and_keeps_the_value_on_failure(cache, clock):
    load = Loader(clock)
    cache.get("k", load)
    assert cache.get("k", load, force=True).value == "value-2"
    load.errors = [unavailable()]
    with pytest.raises(KeyVaultUnavailableError):
        cache.get("k", load, force=True)
    assert cache.get("k", load).value == "value-2"  # others keep being served
    load.errors = [SecretNotFoundError("gone")]
    with pytest.raises(SecretNotFoundError):
        cache.get("k", load, force=True)
    assert len(cache) == 0


def test_pinned_entries_never_fall_due(cache, clock):
    calls = []

    def load() -> CachedSecret:
        calls.append(1)
        return CachedSecret("pinned", META, math.inf, math.inf)

    cache.get("k", load)
    clock.advance(10 * 365 * 86400)
    assert cache.get("k", load).value == "pinned"
    assert len(calls) == 1


def test_backoff_grows_to_a_ceiling():
    assert [backoff(n, None) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 16]
    assert backoff(30, None) == BACKOFF_MAX
    assert backoff(1, 90) == 90


def test_entries_and_errors_never_show_the_value():
    entry = CachedSecret("CANARY-value", META, 1.0, 2.0)
    assert "CANARY" not in repr(entry)
    error = unavailable(retry_after=5)
    copied = copy.copy(error)
    assert (copied.retry_after, str(copied)) == (5, str(error))


def test_the_cache_is_bounded_and_the_oldest_goes_first(clock):
    cache = SecretCache(clock, max_entries=3)
    for key in "abcd":
        cache.get(key, Loader(clock))
    assert sorted(cache.cached_keys()) == ["b", "c", "d"]
    cache.get("b", Loader(clock), force=True)  # stored again: keeps its place, nothing else goes
    assert sorted(cache.cached_keys()) == ["b", "c", "d"]
    failing = Loader(clock)
    failing.errors = [SecretNotFoundError(f"gone {n}") for n in range(5)]
    for key in "vwxyz":
        with pytest.raises(SecretNotFoundError):
            cache.get(key, failing)
    assert len(cache._failures) == 3  # remembered answers are bounded too
