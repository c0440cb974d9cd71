"""appauth_core.web.ObjectCacheAdapter over caches that are not Django's."""

from __future__ import annotations

import math

from appauth_core.keyvault import SupportsAdd
from appauth_core.web import ObjectCacheAdapter


class Recorder:
    def __init__(self) -> None:
        self.data: dict[str, object] = {}
        self.timeouts: list[object] = []

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, timeout=None):
        self.timeouts.append(timeout)
        self.data[key] = value

    def delete(self, key):
        self.data.pop(key, None)


class WithAdd(Recorder):
    def add(self, key, value, timeout=None):
        if key in self.data:
            return False
        self.set(key, value, timeout)
        return True


def test_timeouts_are_whole_positive_seconds():
    cache = Recorder()
    adapter = ObjectCacheAdapter(cache)
    adapter.set("a", b"1", 0.2)
    adapter.set("b", b"1", 299.5)
    assert cache.timeouts == [1, 300]
    for never_forever in (0, -1, math.inf, math.nan):
        adapter.set("c", b"1", never_forever)
        assert "c" not in cache.data


def test_add_only_when_the_cache_has_it():
    assert not isinstance(ObjectCacheAdapter(Recorder()), SupportsAdd)
    adapter = ObjectCacheAdapter(WithAdd())
    assert isinstance(adapter, SupportsAdd)
    assert adapter.add("lease", b"1", 10) is True
    assert adapter.add("lease", b"1", 10) is False


def test_only_bytes_come_back():
    cache = Recorder()
    cache.data.update({"s": "text", "b": bytearray(b"x"), "n": 3})
    adapter = ObjectCacheAdapter(cache)
    assert (adapter.get("s"), adapter.get("b"), adapter.get("n"), adapter.get("none")) == (None, b"x", None, None)
