"""Dropping a cached secret everywhere when Key Vault says it changed (a rotation event, see ``events``).

One process receives the event; every process of the app must forget the old value. ``SecretInvalidation``
does it in three steps, in this order: the entry is dropped from this process's cache, deleted from the shared
cache (so no process can read the old value back from there), then announced on a channel every process
listens on, whose listeners drop their in-process entry too. The next read in each process then misses,
finds the shared cache empty and waits for the fill lease (``SealedSharedCache.fill``): one process in the
fleet reads Key Vault, the others read what it stored.

Channels:

- ``RedisChannel``: Redis pub/sub (``PUBLISH`` / ``SUBSCRIBE``), on the app's Redis. Messages published
  while a listener is disconnected are lost, so a listener that reconnects (or starts in a forked child
  that inherited cached values) drops every latest-version value it holds: they are read again, from the
  shared cache when it has them.
- ``CacheEpochChannel``: for a shared cache without pub/sub (Django's cache, Flask-Caching on memcached ...):
  the announcement is a new random "epoch" stored under one key, which every process reads every
  ``POLL_SECONDS``; a process that sees it change drops every latest-version value it holds.

Listening starts lazily, on the first read that goes past the in-process fast path (``KeyVaultSecrets._read``),
so a process that never reads a secret never connects. It is fork-safe: a forked child (gunicorn
``--preload``, Celery's prefork pool) has no listener thread, so it forgets the parent's and starts its own
on its first read; the remembered fast-path names are dropped in the child so that first read happens.

A message is never trusted with a value: it only names a secret to forget, so the worst a writer to Redis can
do is cost a Key Vault read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .._internal import fork_safety
from ..tokens._vault_hosts import VaultOrigin
from ._references import SecretRef
from ._shared_cache import SharedSecretCache

if TYPE_CHECKING:
    import redis

    from ._secrets import KeyVaultSecrets

logger = logging.getLogger("appauth_core")

MAX_MESSAGE = 4096  # bytes: a vault URL, a secret name (at most 127 characters) and a process id fit many times
SUBSCRIBE_WAIT = 1.0  # how long the first read waits for the listener to be subscribed
POLL_SECONDS = 0.5  # CacheEpochChannel: how often each process reads the epoch
RETRY_MIN, RETRY_MAX = 0.1, 5.0  # reconnection backoff
EPOCH_SECONDS = 30 * 24 * 3600.0


class InvalidationNotShared(Exception):
    """The shared cache or the channel could not be told; this process forgot the value, the others may still
    serve it until their TTL. The webhook answers 503 so that Event Grid delivers the event again."""


@dataclass(frozen=True)
class Invalidation:
    """Forget the latest value of ``name`` in the vault at ``vault_url``."""

    vault_url: str
    name: str

    def encode(self, source: str) -> bytes:
        return json.dumps({"v": self.vault_url, "n": self.name, "s": source}).encode()

    @staticmethod
    def decode(raw: Any) -> tuple[Invalidation, str] | None:
        """The message and who sent it, or None for anything that is not one of ours (never raises: anyone who
        can publish on the channel chooses ``raw``)."""
        if not isinstance(raw, (bytes, str)) or len(raw) > MAX_MESSAGE:
            return None
        try:
            data = json.loads(raw)
            found = Invalidation(str(data["v"]), str(data["n"])), str(data["s"])
        except (TypeError, ValueError, KeyError, RecursionError):  # RecursionError: "[[[[..." nested deep
            return None
        return found


def _deliver(listener: Listener, raw: Any) -> None:
    """``listener.message(raw)``; nothing a message does may end the listening thread (it would never listen
    again, and every worker would serve rotated-away values until their TTL)."""
    try:
        listener.message(raw)
    except Exception as exc:
        logger.warning("A Key Vault invalidation message could not be handled (%s); listening on", type(exc).__name__)


class Listener(Protocol):
    """What a channel tells: ``connected(first)`` each time it is (again) listening, ``message`` for each
    message, ``everything`` when it only knows that something changed."""

    def connected(self, first: bool) -> None: ...

    def message(self, raw: bytes) -> None: ...

    def everything(self) -> None: ...


class Channel(Protocol):
    """Where invalidations are announced. ``listen`` runs on the listener thread until ``stop`` is set,
    reconnecting by itself, and tells ``listener`` what it hears."""

    def publish(self, data: bytes) -> None: ...

    def listen(self, listener: Listener, stop: threading.Event) -> None: ...


class RedisChannel:
    """Redis pub/sub on ``channel``. ``url_or_client``: a ``redis://`` URL or a ``redis.Redis`` (e.g. the
    client of the app's ``RedisSecretCache``; the listener takes one connection of its pool)."""

    def __init__(self, url_or_client: str | redis.Redis, channel: str) -> None:
        import redis as redis_module

        if isinstance(url_or_client, str):
            self._client = redis_module.Redis.from_url(url_or_client, socket_connect_timeout=2.0, socket_timeout=5.0)
        else:
            self._client = url_or_client
        self._channel = channel
        self._errors: tuple[type[BaseException], ...] = (redis_module.RedisError, OSError)

    def __repr__(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        return f"RedisChannel({where!r}, {self._channel!r})"  # never the URL: it may hold a password

    def publish(self, data: bytes) -> None:
        self._client.publish(self._channel, data)

    def listen(self, listener: Listener, stop: threading.Event) -> None:
        first, delay = True, RETRY_MIN
        while not stop.is_set():
            pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._channel)
                for message in _messages(pubsub, stop):
                    if message.get("type") == "subscribe":  # also after redis-py reconnected by itself
                        listener.connected(first)
                        first, delay = False, RETRY_MIN
                    elif message.get("type") == "message":
                        _deliver(listener, message.get("data"))
            except self._errors as exc:
                first = False  # whatever was published while we were away is lost: the next subscribe says so
                logger.warning(
                    "The Key Vault invalidation listener lost Redis (%s); reconnecting in %.1f s",
                    type(exc).__name__,
                    delay,
                )
            finally:
                with contextlib.suppress(*self._errors):  # the connection is already gone
                    pubsub.close()
            stop.wait(delay)
            delay = min(delay * 2, RETRY_MAX)


def _messages(pubsub: Any, stop: threading.Event) -> Iterator[dict[str, Any]]:
    while not stop.is_set():
        message = pubsub.get_message(timeout=1.0)
        if message is not None:
            yield message


class CacheEpochChannel:
    """Announcements through a shared cache that has no pub/sub: a random epoch under ``key``, polled."""

    def __init__(self, cache: SharedSecretCache, key: str, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._cache = cache
        self._key = key
        self._poll = poll_seconds

    def __repr__(self) -> str:
        return f"CacheEpochChannel({self._cache!r})"

    def publish(self, data: bytes) -> None:
        self._cache.set(self._key, uuid.uuid4().bytes, EPOCH_SECONDS)

    def listen(self, listener: Listener, stop: threading.Event) -> None:
        epoch: bytes | None = None
        known = False
        while not stop.is_set():
            try:
                current = self._cache.get(self._key)
            except Exception as exc:  # any engine: Django's and Flask-Caching's raise their own errors
                logger.warning("The Key Vault invalidation epoch could not be read (%s)", type(exc).__name__)
                known = False  # a change may be missed while the cache is away
            else:
                if not known:
                    listener.connected(epoch is None)
                elif current != epoch:
                    listener.everything()
                epoch, known = current, True
            stop.wait(self._poll)


class SecretInvalidation:
    """Invalidates ``secrets``' cached values here, in its shared cache and, through ``channel``, in every other
    process. ``attach`` hooks it into ``secrets`` so that listening starts on the first read."""

    def __init__(self, secrets: KeyVaultSecrets, channel: Channel | None) -> None:
        self._secrets = secrets
        self._channel = channel
        self._source = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._started = False
        self._inherited = False  # a forked child holds its parent's values: forget them once listening
        secrets._on_read = self.ensure_listening
        fork_safety.reset_in_child(self)

    def __repr__(self) -> str:
        return f"SecretInvalidation({self._channel!r})"

    # --- what the webhook calls -------------------------------------------------------------------

    def vault_for(self, vault_name: str, origin: VaultOrigin | None) -> VaultOrigin | None:
        """The vault an event is about, if this app reads it: ``origin`` (from the event's ``Id``) when it is
        one of the app's vaults, else the app's vault whose host starts with ``vault_name``."""
        vaults = self._vaults()
        if origin is not None:
            return origin if origin in vaults else None
        for vault in vaults:
            if vault.host.split(".")[0] == vault_name.lower() and not vault.is_loopback:
                return vault
        return None

    def invalidate(self, vault: VaultOrigin, name: str) -> bool:
        """Forget the latest value of ``name`` in ``vault`` everywhere; True when this process or the shared
        cache held it. ``InvalidationNotShared`` when the shared cache or the channel failed (this process has
        forgotten it already)."""
        ref = SecretRef(vault, name)
        held_here = self.forget_here(vault, name) > 0
        shared = self._secrets._shared
        held_shared = False
        if shared is not None:
            held_shared = shared.read(ref) is not None
            if not shared.delete(ref):
                raise InvalidationNotShared("the shared cache could not delete the entry")
        if self._channel is not None:
            try:
                self._channel.publish(Invalidation(vault.url, name).encode(self._source))
            except Exception as exc:
                raise InvalidationNotShared(f"the invalidation could not be announced ({type(exc).__name__})") from None
        return held_here or held_shared

    # --- this process -----------------------------------------------------------------------------

    def forget_here(self, vault: VaultOrigin, name: str) -> int:
        """Drop this process's latest-version entry of ``name`` in ``vault``; 1 if it held one, else 0."""
        key = SecretRef(vault, name).key
        held = self._secrets._cache.peek(key) is not None
        self._secrets._cache.discard(key)
        return int(held)

    def forget_all_here(self) -> None:
        """Drop every latest-version entry of this process (pinned versions never change)."""
        for key, ref in list(self._secrets._refs.items()):
            if ref.version is None:
                self._secrets._cache.discard(key)

    def ensure_listening(self) -> None:
        """Start the listener thread if it is not running (the first time: wait up to ``SUBSCRIBE_WAIT`` for it
        to listen, so that nothing read from now on can miss an invalidation)."""
        if self._started or self._channel is None:
            return
        with self._lock:
            if self._started:
                return
            self._started = True
            channel = self._channel
            thread = threading.Thread(
                target=channel.listen,
                args=(self, self._stop),
                name=f"appauth-invalidation-{os.getpid()}",
                daemon=True,
            )
            thread.start()
        self._subscribed.wait(SUBSCRIBE_WAIT)

    def close(self) -> None:
        self._stop.set()

    # --- what the channel tells (Listener) --------------------------------------------------------

    def connected(self, first: bool) -> None:
        if not first or self._inherited:
            self.forget_all_here()  # what was announced while no one listened is lost
            self._inherited = False
        self._subscribed.set()

    def everything(self) -> None:
        self.forget_all_here()

    def message(self, raw: bytes) -> None:
        found = Invalidation.decode(raw)
        if found is None or found[1] == self._source:
            return
        message = found[0]
        try:
            vault = VaultOrigin.parse(message.vault_url)
        except ValueError:
            return
        self.forget_here(vault, message.name)

    def _vaults(self) -> set[VaultOrigin]:
        vaults = {ref.origin for ref in list(self._secrets._refs.values())}
        if self._secrets._vault is not None:
            vaults.add(self._secrets._vault)
        return vaults

    def _after_fork_in_child(self) -> None:
        self._source = uuid.uuid4().hex  # the parent's announcements are not the child's own
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._started = False
        self._inherited = len(self._secrets._cache) > 0
        self._secrets._known.clear()  # so the child's first read of each name reaches _read, which starts listening
