"""The in-process secret cache: the token cache's ideas (``tokens/_cache.py``) applied to Key Vault secrets.

- A hit is a dict read and a clock read.
- A miss is single-flight per key: however many threads ask at once, one reads Key Vault.
- When a latest-version value is due, one caller starts a re-read on a thread of its own, while every other
  caller keeps getting the current value. That caller waits for the new value at most ``REFRESH_WAIT``
  (a healthy vault answers well within it), then serves the current one: a slow or failing vault, and the
  SDK's retries against it, never hold a request up for longer.
- Stale-if-error: when that re-read fails for want of an answer (5xx, 429, network, no token), the last good
  value keeps being served until ``stale_until``, with a warning that names the secret (never the value),
  and the next attempt waits an exponential backoff, or the server's Retry-After when that is longer.
- When Key Vault does answer no (not found, access denied, disabled), that answer wins: the value is dropped
  and the error raised, so deleting or revoking a secret takes effect at the next refresh. The answer is
  remembered for ``NEGATIVE_SECONDS``, so a page that reads a missing secret, or an identity that lost
  access, costs one Key Vault read (and one token renewal, see ``vault_client``) per few seconds, not one
  per request. ``force`` (``refresh()``) asks again at once.
- A secret never read that cannot be had because Key Vault is unavailable remembers the failure until its
  backoff ends, so an outage is not met by one request per caller.

Why not ``TokenCache`` itself: tokens have an expiry of their own and every refresh failure is survivable
until then; secrets have no expiry, a refresh can bring an authoritative "no", a forced re-read must be
possible, and a Retry-After must be honoured. Generalising ``TokenCache`` would have changed its behaviour.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from .._internal import fork_safety
from .._internal.single_flight import SingleFlight
from ..errors import (
    AppAuthError,
    KeyVaultUnavailableError,
    SecretAccessDeniedError,
    SecretDisabledError,
    SecretNotFoundError,
    SecretWaitTimeoutError,
)
from ._vault_client import SecretMetadata

logger = logging.getLogger("appauth_core")
V = TypeVar("V")

BACKOFF_BASE = 1.0  # Key Vault's throttling guidance: 1, 2, 4, 8, 16 s ...
NEGATIVE_SECONDS = 5.0  # how long an authoritative "no" is answered from memory
REFRESH_WAIT = 0.25  # how long the caller that starts a re-read waits for it before serving the current value
BACKOFF_MAX = 60.0
MAX_ENTRIES = 10_000
"""Values (and remembered failures) kept at most; past it the oldest stored goes. An app reading secrets by
names it makes up (one per tenant, per user) must not grow without end."""
AUTHORITATIVE = (SecretNotFoundError, SecretAccessDeniedError, SecretDisabledError)
"""Answers from Key Vault that a cached value must not outlive."""


@dataclass(frozen=True)
class CachedSecret:
    value: str = field(repr=False)
    metadata: SecretMetadata
    refresh_at: float  # math.inf for a pinned version: it can never change
    stale_until: float  # how long the value may be served while re-reads fail
    failures: int = 0  # re-reads that failed since the value was read
    retry_at: float = 0.0  # no re-read before this (backoff, Retry-After)


@dataclass(frozen=True)
class _Failure:
    error: Exception
    failures: int
    retry_at: float


def backoff(failures: int, retry_after: float | None) -> float:
    """Seconds before the next attempt after ``failures`` failures in a row."""
    delay = min(BACKOFF_BASE * 2.0 ** max(failures - 1, 0), BACKOFF_MAX)
    return max(delay, retry_after or 0.0)


class SecretCache:
    """Thread-safe. Keys are opaque; ``label`` in ``get`` names the secret in log lines."""

    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[Hashable, CachedSecret] = {}
        self._failures: dict[Hashable, _Failure] = {}
        self._flights: SingleFlight[CachedSecret] = SingleFlight(SecretWaitTimeoutError.after)
        self._lock = threading.Lock()
        fork_safety.new_lock_in_child(self)  # the values stay: a secret is as good in the child

    def peek(self, key: Hashable) -> CachedSecret | None:
        """The entry if it needs no work at all (the async fast path), else None."""
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry.refresh_at:
            return entry
        return None

    def get(
        self, key: Hashable, load: Callable[[], CachedSecret], *, label: str = "a secret", force: bool = False
    ) -> CachedSecret:
        """The cached value, refreshed as the module docstring says. ``force``: read now (one flight per
        key); on failure the error is raised, and a cached value stays for the other callers unless Key
        Vault answered no."""
        entry = self._entries.get(key)  # a plain dict read is atomic: no lock on the hit path
        now = self._clock()
        if entry is not None and not force:
            if now < entry.refresh_at:
                return entry
            if now < entry.stale_until:
                return self._refresh_ahead(key, entry, load, label, now)
        if not force:
            self._raise_if_backing_off(key, now)
        return self._single_flight(key, load, force=force)

    def cached_keys(self) -> list[Hashable]:
        return list(self._entries)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._failures.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._failures.clear()

    def __len__(self) -> int:
        return len(self._entries)

    # --- internals --------------------------------------------------------------------------------

    def _raise_if_backing_off(self, key: Hashable, now: float) -> None:
        failure = self._failures.get(key)
        if failure is not None and now < failure.retry_at:
            # A copy: raising one exception object from many threads would grow its traceback forever.
            raise copy.copy(failure.error).with_traceback(None)

    def _single_flight(self, key: Hashable, load: Callable[[], CachedSecret], *, force: bool) -> CachedSecret:
        def ready() -> CachedSecret | None:  # another caller finished the load while we waited for the lock
            entry = self._entries.get(key)
            if not force and entry is not None and self._clock() < entry.refresh_at:
                return entry
            return None

        try:
            return self._flights.run(key, lambda: self._store(key, load()), ready=ready)
        except AUTHORITATIVE as exc:
            self._remember_no(key, exc)
            raise
        except SecretWaitTimeoutError:
            raise  # not Key Vault's answer: the read this caller waited for goes on and records its own outcome
        except KeyVaultUnavailableError as exc:
            self._remember_failure(key, exc)
            raise

    def _store(self, key: Hashable, result: CachedSecret) -> CachedSecret:
        with self._lock:
            bounded_put(self._entries, key, result, self._max_entries)
            self._failures.pop(key, None)
        return result

    def _remember_failure(self, key: Hashable, error: KeyVaultUnavailableError) -> None:
        with self._lock:
            previous = self._failures.get(key)
            failures = (previous.failures if previous else 0) + 1
            retry_at = self._clock() + backoff(failures, error.retry_after)
            bounded_put(self._failures, key, _Failure(error, failures, retry_at), self._max_entries)
            entry = self._entries.get(key)
            if entry is not None and self._clock() >= entry.stale_until:
                del self._entries[key]  # past its stale window: no longer a value anyone may be served

    def _remember_no(self, key: Hashable, error: Exception) -> None:
        """Key Vault said no: the value goes, and the answer is given from memory for NEGATIVE_SECONDS."""
        with self._lock:
            self._entries.pop(key, None)
            bounded_put(self._failures, key, _Failure(error, 1, self._clock() + NEGATIVE_SECONDS), self._max_entries)

    def _refresh_ahead(
        self, key: Hashable, entry: CachedSecret, load: Callable[[], CachedSecret], label: str, now: float
    ) -> CachedSecret:
        if now < entry.retry_at:
            return entry

        def failed(exc: BaseException) -> None:
            if isinstance(exc, AUTHORITATIVE):
                self._remember_no(key, exc)
            elif isinstance(exc, Exception):
                self._keep_serving(key, entry, exc, label)

        flight = self._flights.start_if_idle(key, lambda: self._store(key, load()), failed)
        if flight is None or not flight.done.wait(REFRESH_WAIT):
            return entry  # re-read by someone else, or still by us in the background: this value is still good
        if isinstance(flight.error, AUTHORITATIVE):
            raise flight.error
        return flight.result if flight.result is not None else self._entries.get(key, entry)

    def _keep_serving(self, key: Hashable, entry: CachedSecret, exc: Exception, label: str) -> CachedSecret:
        failures = entry.failures + 1
        now = self._clock()
        delay = backoff(failures, getattr(exc, "retry_after", None))
        kept = replace(entry, failures=failures, retry_at=now + delay)
        with self._lock:
            if self._entries.get(key) is entry:
                self._entries[key] = kept
        left = entry.stale_until - now
        logger.warning(
            "Re-reading %s failed (%s: %s); serving the value read before for up to %s more, next attempt in %.0f s",
            label,
            type(exc).__name__,
            _reason(exc),
            "ever" if math.isinf(left) else f"{left:.0f} s",
            delay,
        )
        return kept


def bounded_put(mapping: dict[Hashable, V], key: Hashable, value: V, limit: int) -> None:
    """``mapping[key] = value``, the oldest key dropped first if a new one would pass ``limit`` (dicts keep
    insertion order; called under the cache's lock)."""
    if key not in mapping and len(mapping) >= limit:
        del mapping[next(iter(mapping))]
    mapping[key] = value


def _reason(exc: Exception) -> str:
    """Our errors' messages name the secret and never a value; anything else is shown by type only."""
    if isinstance(exc, AppAuthError):
        return str(exc).splitlines()[0][:300]
    return "unexpected error"
