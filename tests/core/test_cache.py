"""The token cache's own rules, with a controllable clock (the upstream here is a counting function:
what is under test is the cache's bookkeeping, not a protocol)."""

from __future__ import annotations

import threading

import pytest

from appauth_core.tokens import _cache as cache_module
from appauth_core.tokens._cache import CacheEntry, TokenCache, new_entry
from appauth_core.tokens._result import Principal
from appauth_core.tokens.sources._base import SourceToken

APP = Principal(type="App", app_id="a")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    """Counts calls; can be made to block or fail."""

    def __init__(self, clock: Clock, lifetime: float = 3600) -> None:
        self.clock, self.lifetime, self.calls = clock, lifetime, 0
        self.gate: threading.Event | None = None
        self.error: Exception | None = None
        self._lock = threading.Lock()

    def __call__(self) -> CacheEntry:
        with self._lock:
            self.calls += 1
            number = self.calls
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        if self.error is not None:
            raise self.error
        token = SourceToken(f"token-{number}", self.clock.now + self.lifetime)
        return new_entry(token, APP, "upstream", self.clock.now)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    return TokenCache(clock)


def test_hit_does_not_call_upstream(cache, clock):
    upstream = Upstream(clock)
    first = cache.get("k", upstream)
    assert cache.get("k", upstream) is first
    assert cache.peek("k") is first
    assert upstream.calls == 1


def test_keys_are_independent(cache, clock):
    upstream = Upstream(clock)
    assert cache.get("a", upstream).token.access_token != cache.get("b", upstream).token.access_token
    assert upstream.calls == 2


def test_concurrent_cold_callers_cause_one_upstream_call(cache, clock):
    upstream = Upstream(clock)
    upstream.gate = threading.Event()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", upstream).token.access_token)) for _ in range(32)
    ]
    for thread in threads:
        thread.start()
    while upstream.calls == 0:  # the leader is inside the upstream call; everyone else must wait for it
        threading.Event().wait(0.01)
    upstream.gate.set()
    for thread in threads:
        thread.join(10)
    assert upstream.calls == 1
    assert results == ["token-1"] * 32


def test_failure_reaches_every_waiting_caller_and_is_not_cached(cache, clock):
    upstream = Upstream(clock)
    upstream.error = RuntimeError("upstream down")
    with pytest.raises(RuntimeError, match="upstream down"):
        cache.get("k", upstream)
    upstream.error = None
    assert cache.get("k", upstream).token.access_token == "token-2"


def test_refresh_ahead_one_caller_refreshes_others_keep_the_valid_token(cache, clock, monkeypatch):
    monkeypatch.setattr(cache_module, "REFRESH_WAIT", 30.0)  # the refresh is quick (the gate opens below)
    upstream = Upstream(clock)
    old = cache.get("k", upstream)
    clock.now = old.refresh_at + 1  # due for refresh, still valid
    upstream.gate = threading.Event()
    refresher = threading.Thread(target=cache.get, args=("k", upstream))
    refresher.start()
    while upstream.calls < 2:
        threading.Event().wait(0.01)
    # While the refresh is in flight, other callers are not blocked and get the current token.
    assert cache.get("k", upstream) is old
    upstream.gate.set()
    refresher.join(10)
    assert cache.get("k", upstream).token.access_token == "token-2"
    assert upstream.calls == 2


def test_a_slow_refresh_holds_nobody_up(cache, clock, monkeypatch):
    monkeypatch.setattr(cache_module, "REFRESH_WAIT", 0.05)
    upstream = Upstream(clock)
    old = cache.get("k", upstream)
    clock.now = old.refresh_at + 1
    upstream.gate = threading.Event()
    assert cache.get("k", upstream) is old  # the one who started the refresh did not wait for it
    assert cache.get("k", upstream) is old and upstream.calls == 2  # one refresh in flight, not two
    upstream.gate.set()
    for _ in range(1000):  # at most 10 s for the background refresh to land
        if cache.peek("k") is not None:
            break
        threading.Event().wait(0.01)
    assert cache.get("k", upstream).token.access_token == "token-2"


def test_failed_refresh_keeps_serving_and_backs_off(cache, clock, caplog):
    upstream = Upstream(clock)
    old = cache.get("k", upstream)
    clock.now = old.refresh_at + 1
    upstream.error = RuntimeError("blip")
    kept = cache.get("k", upstream)
    assert kept.token.access_token == old.token.access_token
    assert kept.failures == 1
    assert "stays in use" in caplog.text
    assert "token-1" not in caplog.text
    calls = upstream.calls
    clock.now += 1  # inside the backoff window: no new attempt
    assert cache.get("k", upstream).token.access_token == "token-1"
    assert upstream.calls == calls
    clock.now = kept.retry_at + 0.1
    upstream.error = None
    assert cache.get("k", upstream).token.access_token == f"token-{calls + 1}"


def test_expired_token_is_never_served(cache, clock):
    upstream = Upstream(clock)
    old = cache.get("k", upstream)
    clock.now = old.usable_until + 1
    upstream.error = RuntimeError("down")
    with pytest.raises(RuntimeError):
        cache.get("k", upstream)


def test_force_refresh_bypasses_a_valid_entry(cache, clock):
    upstream = Upstream(clock)
    cache.get("k", upstream)
    assert cache.get("k", upstream, force_refresh=True).token.access_token == "token-2"


def test_refresh_times():
    now = 1000.0
    hour = new_entry(SourceToken("t", now + 3600), APP, "m", now)
    assert hour.refresh_at == now + 3600 - 300
    short = new_entry(SourceToken("t", now + 120), APP, "m", now)
    assert short.refresh_at == now + 60  # half-way through a short lifetime, not on every call
    assert now < short.refresh_at < short.usable_until < now + 120
    hinted = new_entry(SourceToken("t", now + 86400, refresh_on=now + 43200), APP, "m", now)
    assert hinted.refresh_at == now + 43200
