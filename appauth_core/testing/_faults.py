"""Fault injection and request counters shared by every stand-in endpoint.

Endpoint names are dotted (``entra.token``, ``mi.imds``, ``keyvault.local.get_secret``); a fault or a
count asked for by a prefix (``keyvault`` or ``keyvault.local``) covers every endpoint below it, so a
test can say "the next two vault requests fail" without knowing which operation comes first.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """What the next ``times`` responses of an endpoint look like instead of the real one.

    ``status`` None keeps the real response (useful with ``delay``, ``truncate`` or ``garbage`` alone).
    ``truncate`` sends half the body under the full Content-Length and drops the connection;
    ``garbage`` replaces the body with bytes no JSON parser accepts;
    ``drip`` sends the whole reply (status line, headers, body) one byte at a time, ``drip`` seconds apart:
    a server that never goes quiet for long enough to trip a read timeout; with ``drip_body`` the status line
    and headers go at once and only the body trickles;
    ``pad`` appends that many bytes of JSON whitespace to the body (the reply still parses), sent chunked
    without a Content-Length so that a client learns the size only by reading it; the padding is written in
    pieces, never held in memory whole.
    """

    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False
    garbage: bool = False
    drip: float = 0.0
    drip_body: bool = False
    pad: int = 0
    times: int = 1

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError(f"Fault.times must be at least 1, got {self.times}")
        if self.delay < 0:
            raise ValueError(f"Fault.delay must not be negative, got {self.delay}")
        if self.drip < 0 or self.pad < 0:
            raise ValueError(f"Fault.drip and Fault.pad must not be negative, got {self.drip} and {self.pad}")
        if self.drip and (self.pad or self.truncate):
            raise ValueError("Fault.drip cannot be combined with pad or truncate")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"Fault.status must be an HTTP status code, got {self.status}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from JSON (the control API and the CLI speak this shape)."""
        known = {"status", "body", "headers", "delay", "truncate", "garbage", "drip", "drip_body", "pad", "times"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s) {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**data)


def _covers(prefix: str, endpoint: str) -> bool:
    return endpoint == prefix or endpoint.startswith(prefix + ".")


class FaultInjector:
    """Queue of faults per endpoint prefix, consumed in order by matching requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[tuple[str, Fault]] = []

    def inject(self, endpoint: str, fault: Fault | None = None, **fields: Any) -> Fault:
        """Make the next ``fault.times`` requests to ``endpoint`` (or below it) answer with ``fault``."""
        if fault is None:
            fault = Fault(**fields)
        elif fields:
            raise TypeError("pass either a Fault or its fields, not both")
        with self._lock:
            self._queue.append((endpoint, fault))
        return fault

    def take(self, endpoint: str) -> Fault | None:
        """The fault this request gets, if any; counts one use of it."""
        with self._lock:
            for index, (prefix, fault) in enumerate(self._queue):
                if _covers(prefix, endpoint):
                    fault.times -= 1
                    if fault.times == 0:
                        del self._queue[index]
                    return fault
        return None

    def pending(self) -> list[tuple[str, Fault]]:
        with self._lock:
            return list(self._queue)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


class RequestCounter:
    """How many requests each endpoint received (faulted ones included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1

    def __getitem__(self, prefix: str) -> int:
        """Requests to ``prefix`` and every endpoint below it."""
        with self._lock:
            return sum(n for name, n in self._counts.items() if _covers(prefix, name))

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
