"""What a forked child must not inherit from the process that used appauth before the fork.

gunicorn ``--preload``, uWSGI without ``lazy-apps``, Celery's prefork pool and multiprocessing's "fork"
start method all fork after the app was imported, and the Django and Flask adapters resolve Key Vault
references at import time. The child then holds copies of three things that are only valid in the parent:

- locks: one held by another thread at the moment of the fork stays held in the child forever;
- flights: a token or secret a parent thread was fetching is never finished in the child, and the child's
  callers would wait for it forever;
- pooled keep-alive connections: one socket, now shared by the parent and every child. Two processes
  writing requests on it interleave them; on TLS, the record sequence numbers diverge and the peer drops
  the connection.

So in the child every lock is replaced, every flight forgotten and every pooled connection dropped (the
child's copy of the socket is closed, which leaves the parent's connection open). Cached tokens and secret
values are kept: they are as valid in the child as in the parent, and keeping them spares each worker its
own first round trip (a worker forked by a ``--preload`` master starts with the master's tokens).

Why ``os.register_at_fork`` and not a pid check on every call (redis-py's way): the cache hit is a dict
lookup, and a ``getpid()`` on it would cost more than the lookup.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Any, Protocol

logger = logging.getLogger("appauth_core")


class ResetsAfterFork(Protocol):
    def _after_fork_in_child(self) -> None: ...


class HasConnections(Protocol):
    def close(self) -> None: ...


_RLOCK = type(threading.RLock())
_objects: weakref.WeakSet[Any] = weakref.WeakSet()
_pools: weakref.WeakSet[Any] = weakref.WeakSet()
_locks: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def reset_in_child(obj: ResetsAfterFork) -> None:
    """Call ``obj._after_fork_in_child()`` in every child forked while ``obj`` is alive."""
    _objects.add(obj)


def close_connections_in_child(pool: HasConnections) -> None:
    """Drop ``pool``'s connections in every child forked while it is alive. For a ``requests.Session``:
    ``close()`` empties its connection pools, and the session opens new connections when next used."""
    _pools.add(pool)


def new_lock_in_child(owner: object, attribute: str = "_lock") -> None:
    """Give ``owner.<attribute>`` a new lock of the same kind (``Lock`` or ``RLock``) in every child: for a
    module's lock (``new_lock_in_child(sys.modules[__name__])``) or an object whose only fork hazard is its lock."""
    _locks.setdefault(owner, set()).add(attribute)


def _after_fork_in_child() -> None:
    for owner, attributes in list(_locks.items()):
        for attribute in attributes:
            current = getattr(owner, attribute, None)
            setattr(owner, attribute, threading.RLock() if isinstance(current, _RLOCK) else threading.Lock())
    for pool in list(_pools):
        try:
            pool.close()
        except Exception:  # a broken pool must not stop the child from starting; it is dropped anyway
            logger.debug("closing an inherited connection pool after fork failed", exc_info=True)
    for obj in list(_objects):
        obj._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
