"""A Django cache alias as the object ``appauth_core.web.ObjectCacheAdapter`` wraps."""

from __future__ import annotations

from typing import Any

from django.core.cache import caches  # type: ignore[import-untyped]
from django.core.cache.backends.base import DEFAULT_TIMEOUT  # type: ignore[import-untyped]


class AliasCache:
    """``caches[alias]``, looked up on every call rather than once.

    Django hands each thread (and each async context) its own cache object, and some backends are not
    safe to share between threads (pymemcache without pooling); the lookup is a context-local dict read.
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def get(self, key: str) -> Any:
        return caches[self.alias].get(key)

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> None:
        caches[self.alias].set(key, value, timeout)

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        return bool(caches[self.alias].add(key, value, timeout))

    def delete(self, key: str) -> None:
        caches[self.alias].delete(key)

    def __repr__(self) -> str:
        return f"AliasCache({self.alias!r})"
