"""At most one call per key in flight; callers arriving meanwhile wait for it and share its outcome.

The token cache and the secret cache both need exactly this (N concurrent cold callers → one upstream
call), and each adds its own rules on top: when a value is due, what a failure means.

A caller that waits for another's call waits at most ``http_limits.DEFAULT_DEADLINE`` (30 s), as long as a
call of its own could have taken, then raises its cache's error (``TokenWaitTimeoutError``,
``SecretWaitTimeoutError``): one slow fetch must not pile up every request thread behind it. The call
itself goes on and its outcome is kept for the callers after it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from . import fork_safety, http_limits

T = TypeVar("T")

_background: set[threading.Thread] = set()  # refreshes started by start_if_idle and not finished yet
_background_lock = threading.Lock()
fork_safety.new_lock_in_child(sys.modules[__name__], "_background_lock")


def wait_for_background_refreshes(timeout: float = 30.0) -> bool:
    """Wait until every refresh-ahead started so far has finished (at most ``timeout`` seconds in all); False
    if some are still running. For tests: a refresh left running by one test must not reach the next test's
    endpoints (its faults, its request counters). The ``azure_emulator`` fixture calls it after each test."""
    deadline = time.monotonic() + timeout
    with _background_lock:
        running = list(_background)
    for thread in running:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return not any(thread.is_alive() for thread in running)


class Flight(Generic[T]):
    """One call in progress: ``done`` is set once ``result`` or ``error`` is."""

    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """``timeout_error(waited)``: what a caller that gave up waiting for another's call raises (default: a
    ``TimeoutError``; the caches pass their own typed error)."""

    def __init__(self, timeout_error: Callable[[float], Exception] | None = None) -> None:
        self._timeout_error = timeout_error or _timed_out
        self._lock = threading.Lock()
        self._flights: dict[Hashable, Flight[T]] = {}
        fork_safety.reset_in_child(self)

    def _after_fork_in_child(self) -> None:
        # The threads that led these flights do not exist in the child: nobody would ever finish them.
        self._lock = threading.Lock()
        self._flights = {}

    def run(self, key: Hashable, work: Callable[[], T], *, ready: Callable[[], T | None] = lambda: None) -> T:
        """``work()`` once for everyone asking for ``key`` now. ``ready`` is asked, under the lock, before
        starting a flight: a value another caller stored while this one waited for the lock. A caller that
        finds a flight under way waits for it at most ``http_limits.DEFAULT_DEADLINE`` seconds."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                found = ready()
                if found is not None:
                    return found
                flight = self._flights[key] = Flight()
                leader = True
            else:
                leader = False
        if not leader:
            limit = http_limits.DEFAULT_DEADLINE
            if not flight.done.wait(limit):
                raise self._timeout_error(limit)
            if flight.error is not None:
                raise flight.error
            assert flight.result is not None
            return flight.result
        return self._lead(key, flight, work)

    def start_if_idle(
        self, key: Hashable, work: Callable[[], T], on_error: Callable[[BaseException], None]
    ) -> Flight[T] | None:
        """Start ``work()`` on a thread of its own unless a flight for ``key`` is under way (then None at once):
        refresh-ahead, where the caller waits for the new value only as long as it likes
        (``flight.done.wait(timeout)``) and otherwise keeps using the current one. ``on_error`` runs before
        anyone waiting is woken, so the cache has recorded the failure by then."""
        with self._lock:
            if key in self._flights:
                return None
            flight: Flight[T] = Flight()
            self._flights[key] = flight

        def run() -> None:
            try:
                with contextlib.suppress(BaseException):  # recorded in flight.error, handled by on_error
                    self._lead(key, flight, work, on_error)
            finally:
                with _background_lock:
                    _background.discard(thread)

        thread = threading.Thread(target=run, name="appauth-refresh", daemon=True)
        with _background_lock:
            _background.add(thread)
        try:
            thread.start()
        except RuntimeError:  # no new thread now (the interpreter is shutting down): refresh on this one
            run()
        return flight

    def _lead(
        self,
        key: Hashable,
        flight: Flight[T],
        work: Callable[[], T],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> T:
        try:
            result = work()
        except BaseException as exc:
            flight.error = exc
            if on_error is not None:
                on_error(exc)
            raise
        else:
            flight.result = result
            return result
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()


def _timed_out(waited: float) -> Exception:
    return TimeoutError(f"gave up after {waited:g} s waiting for another caller's call of the same key")
