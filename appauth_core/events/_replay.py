"""Which events were already acted on, so a delivery replayed (by someone holding a captured request and its
still-valid token, or by Event Grid itself, which delivers at least once) changes nothing.

An event id is remembered for ``WINDOW`` (Event Grid gives up on an event after 24 hours at most, its
``event-ttl``), here in a bounded map and, when the app has a shared cache with ``add`` (Redis, Django's and
Flask-Caching's caches), fleet-wide under a hash of the id, so a retry that reaches another worker is known
there too. An event older than the window cannot be told from a replay and is not acted on either.

Ids are marked only after the event was acted on: a delivery answered 503 (the shared cache was down) is
acted on again when Event Grid retries it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .._internal import fork_safety
from ..keyvault import SharedSecretCache, SupportsAdd

WINDOW = 24 * 3600.0 + 300.0  # Event Grid's longest event time-to-live, and clock skew
MAX_REMEMBERED = 10_000
FUTURE_SKEW = 300.0  # an event time further ahead than this is not believed


class SeenEvents:
    """Thread-safe. ``namespace`` separates apps sharing one cache (the webhook's audience)."""

    def __init__(
        self,
        namespace: str,
        shared: SharedSecretCache | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_remembered: int = MAX_REMEMBERED,
    ) -> None:
        self._namespace = namespace
        self._shared = shared
        self._clock = clock
        self._max = max_remembered
        self._seen: OrderedDict[str, float] = OrderedDict()  # id -> when it may be forgotten
        self._lock = threading.Lock()
        fork_safety.new_lock_in_child(self)

    def too_old(self, when: dt.datetime | None) -> bool:
        """An event time outside the window (older, or implausibly far ahead)."""
        if when is None:
            return False
        age = self._clock() - when.timestamp()
        return age > WINDOW or age < -FUTURE_SKEW

    def claim(self, event_id: str) -> bool:
        """True for the first delivery of ``event_id`` in the fleet (it is then marked seen for ``WINDOW``), False
        for a replay. With a shared cache that has ``add`` (set-if-absent), two workers handling the same delivery
        at once cannot both win; without one, this process's memory decides. A shared cache that fails is an
        optimisation lost, not a refusal: this process still remembers the id."""
        now = self._clock()
        with self._lock:
            until = self._seen.get(event_id)
            if until is not None and until > now:
                return False
            self._seen.pop(event_id, None)
            while len(self._seen) >= self._max or (self._seen and next(iter(self._seen.values())) <= now):
                self._seen.popitem(last=False)  # the oldest first: insertion order is expiry order
            self._seen[event_id] = now + WINDOW
        if self._shared is None:
            return True
        key = self._key(event_id)
        try:
            if isinstance(self._shared, SupportsAdd):
                return bool(self._shared.add(key, b"1", WINDOW))
            if self._shared.get(key) is not None:
                return False
            self._shared.set(key, b"1", WINDOW)
        except Exception:  # the shared cache is an optimisation here: this process still remembers the id
            return True
        return True

    def release(self, event_id: str) -> None:
        """Forget a claim whose event could not be acted on, so that Event Grid's redelivery is acted on."""
        with self._lock:
            self._seen.pop(event_id, None)
        if self._shared is None:
            return
        with contextlib.suppress(Exception):  # then the redelivery counts as a replay for the others
            self._shared.delete(self._key(event_id))

    def _key(self, event_id: str) -> str:
        return "events:seen:" + hashlib.sha256(f"{self._namespace}\0{event_id}".encode()).hexdigest()
