"""The token cache in front of every source: hits are a dict lookup and a clock read; misses are
single-flight per key; tokens are refreshed ahead of expiry on a thread of its own, started by one caller,
while everyone keeps using the still-valid token (that caller waits at most ``REFRESH_WAIT`` for the new
one, so a slow identity endpoint never holds a request up); a failed refresh keeps serving that token and
retries with backoff.

Why not one lock like .NET's (a static SemaphoreSlim over every resource, so one slow Azure CLI call
blocks every token request in the process) and why not azure-identity's (no lock: 32 cold callers send
7+ token requests): a flight per key gives both properties we want, independence across keys and
exactly one upstream call per key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace

from .._internal import fork_safety
from .._internal.single_flight import SingleFlight
from ..errors import TokenWaitTimeoutError
from ._result import Principal
from .sources._base import SourceToken

logger = logging.getLogger("appauth_core")

REFRESH_MARGIN = 300.0  # refresh 5 minutes before expiry, as .NET, msal and azure-core do
EXPIRY_MARGIN = 30.0  # never hand out a token with less than this left: it may expire in flight
RETRY_BACKOFF_MAX = 60.0
REFRESH_WAIT = 0.25  # how long the caller that starts a refresh waits for it before using the current token


@dataclass(frozen=True)
class CacheEntry:
    token: SourceToken = field(repr=False)
    principal: Principal
    refresh_at: float
    usable_until: float
    method: str = ""  # the source that produced it, for logs and errors
    failures: int = 0  # refresh attempts that failed since this token was obtained
    retry_at: float = 0.0


def new_entry(token: SourceToken, principal: Principal, method: str, now: float) -> CacheEntry:
    """When to refresh: at ``refresh_on`` if the source gave one, else 5 minutes before expiry, but never
    later than half-way through a short lifetime (so a 2-minute token is not refreshed on every call)."""
    lifetime = max(token.expires_on - now, 0.0)
    refresh_at = token.expires_on - min(REFRESH_MARGIN, lifetime / 2)
    if token.refresh_on is not None:
        refresh_at = min(refresh_at, token.refresh_on)
    usable_until = token.expires_on - min(EXPIRY_MARGIN, lifetime / 4)
    return CacheEntry(token, principal, refresh_at, usable_until, method)


class TokenCache:
    """Thread-safe; shared by every provider in the process (see ``shared_cache``)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[Hashable, CacheEntry] = {}
        self._flights: SingleFlight[CacheEntry] = SingleFlight(TokenWaitTimeoutError.after)
        self._lock = threading.Lock()
        fork_safety.new_lock_in_child(self)  # the entries stay: a token is as good in the child

    def peek(self, key: Hashable) -> CacheEntry | None:
        """The fast path alone: the entry if it needs no work at all, else None."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry.refresh_at:
            return entry
        return None

    def get(self, key: Hashable, fetch: Callable[[], CacheEntry], *, force_refresh: bool = False) -> CacheEntry:
        entry = self._entries.get(key)  # a plain dict read is atomic: no lock on the hit path
        if entry is not None and not force_refresh:
            now = self._clock()
            if now < entry.refresh_at:
                return entry
            if now < entry.usable_until:
                return self._refresh_ahead(key, entry, fetch, now)
        return self._single_flight(key, fetch, force_refresh=force_refresh)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _single_flight(self, key: Hashable, fetch: Callable[[], CacheEntry], *, force_refresh: bool) -> CacheEntry:
        def ready() -> CacheEntry | None:  # another caller finished the fetch while we waited for the lock
            entry = self._entries.get(key)
            if not force_refresh and entry is not None and self._clock() < entry.refresh_at:
                return entry
            return None

        return self._flights.run(key, lambda: self._store(key, fetch()), ready=ready)

    def _store(self, key: Hashable, entry: CacheEntry) -> CacheEntry:
        self._entries[key] = entry
        return entry

    def _refresh_ahead(
        self, key: Hashable, entry: CacheEntry, fetch: Callable[[], CacheEntry], now: float
    ) -> CacheEntry:
        if now < entry.retry_at:
            return entry

        def failed(exc: BaseException) -> None:
            failures = entry.failures + 1
            backoff = min(5.0 * 2 ** (failures - 1), RETRY_BACKOFF_MAX)
            if self._entries.get(key) is entry:  # not over a token a forced refresh stored meanwhile
                self._entries[key] = replace(entry, failures=failures, retry_at=self._clock() + backoff)
            logger.warning(
                "Refreshing a token via %s failed (%s); the current token stays in use for %.0f s more, "
                "next attempt in %.0f s",
                entry.method or "its source",
                type(exc).__name__,
                entry.usable_until - now,
                backoff,
            )

        flight = self._flights.start_if_idle(key, lambda: self._store(key, fetch()), failed)
        if flight is None or not flight.done.wait(REFRESH_WAIT):
            return entry  # refreshed by someone else, or still by us in the background: this token is still good
        return flight.result if flight.result is not None else self._entries.get(key, entry)


shared_cache = TokenCache()
"""The process-wide cache every ``AzureServiceTokenProvider`` uses unless given another."""
