"""A web framework's cache as appauth's shared secret cache (``SharedSecretCache``).

Django's caches (``caches["alias"]``), Flask-Caching (a ``Cache`` or its backend) and cachelib all have the
same three methods: ``get(key)``, ``set(key, value, timeout=...)`` and ``delete(key)``. Authlib adapts such
caches instead of inventing its own; so does this one small class, used by both adapters.

They disagree on one point, which is why this is more than a pass-through: a timeout of ``0`` means "expire
at once" to Django and "never expire" to Flask-Caching and cachelib. Timeouts here are always a positive
whole number of seconds (rounded up, since redis and memcached take integers), and a non-positive timeout
deletes the entry instead of storing it, so a secret can never be cached forever by accident.

A cache that also has ``add`` (set if absent: Django's, Flask-Caching's and cachelib's all do) keeps it
through the adapter, so ``KeyVaultSecrets`` can take its cross-process fill lease (``SupportsAdd``).
"""

from __future__ import annotations

import math
from typing import Any, Protocol


class FrameworkCache(Protocol):
    """What ``ObjectCacheAdapter`` needs from a cache: the methods Django, Flask-Caching and cachelib share."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any, timeout: Any = ...) -> Any: ...

    def delete(self, key: str) -> Any: ...


class ObjectCacheAdapter:
    """A ``SharedSecretCache`` over any object with ``get``/``set(key, value, timeout)``/``delete``.

    Values are the bytes ``KeyVaultSecrets`` hands over (encrypted there); anything else found under a key
    (another program's value, a cache that mangled it) reads as a miss rather than as a secret. Errors from
    the cache (a redis that is down) propagate: ``KeyVaultSecrets`` decides what an unreachable shared cache
    means, not the adapter.
    """

    def __new__(cls, cache: FrameworkCache) -> ObjectCacheAdapter:
        # ``SupportsAdd`` is checked with isinstance (attribute presence), so ``add`` may only exist on the
        # adapter when the wrapped cache really has it.
        if cls is ObjectCacheAdapter and callable(getattr(cache, "add", None)):
            cls = _LeasingObjectCacheAdapter
        return super().__new__(cls)

    def __init__(self, cache: FrameworkCache) -> None:
        self._cache = cache

    @property
    def cache(self) -> FrameworkCache:
        """The wrapped framework cache."""
        return self._cache

    def get(self, key: str) -> bytes | None:
        value = self._cache.get(key)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        return None

    def set(self, key: str, value: bytes, timeout: float) -> None:
        seconds = _seconds(timeout)
        if seconds <= 0:
            self._cache.delete(key)
            return
        self._cache.set(key, bytes(value), timeout=seconds)

    def delete(self, key: str) -> None:
        self._cache.delete(key)

    def __repr__(self) -> str:
        return f"ObjectCacheAdapter({type(self._cache).__name__})"


class _LeasingObjectCacheAdapter(ObjectCacheAdapter):
    """The adapter for caches with ``add``; ``ObjectCacheAdapter(cache)`` picks it by itself."""

    def add(self, key: str, value: bytes, timeout: float) -> bool:
        seconds = _seconds(timeout)
        if seconds <= 0:
            return False
        return bool(self._cache.add(key, bytes(value), timeout=seconds))  # type: ignore[attr-defined]


def _seconds(timeout: float) -> int:
    """Whole seconds, rounded up; 0 for a non-positive or non-finite timeout (never "forever")."""
    return math.ceil(timeout) if math.isfinite(timeout) and timeout > 0 else 0
