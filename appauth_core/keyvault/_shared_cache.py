"""A secret cache shared by every worker and host, so Key Vault is read once per TTL instead of once per
process (Key Vault throttles per vault; a fleet of gunicorn workers restarting together is a burst).

``SharedSecretCache`` is the engine's interface: bytes in, bytes out, with a timeout. ``RedisSecretCache``
implements it on redis-py; the Django and Flask adapters wrap Django's cache and Flask-Caching. An engine
that also has ``add`` (set-if-absent: Redis ``SET NX``, Django's and Flask-Caching's ``add``) gets a short
fill lease, so processes that miss at the same moment wait for one of them to read Key Vault.

What goes in is sealed here (``SealedSharedCache``): a Fernet token (AES-CBC + HMAC) of a JSON payload that
also names its own cache key, so a value cannot be replayed under another secret's key. Keys are hashes of
(namespace, vault, name, version): fixed length and safe for every engine (memcached refuses spaces and
long keys). The namespace (``namespace_for``) is derived from the app's encryption key and the identity that
reads Key Vault, so two apps sharing one Redis never overwrite each other's entries, and an identity whose
access was revoked is never served what another identity read: it reads Key Vault, which says no.
A value that cannot be opened (tampering, an old format) is a miss, never a crash.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import KeyVaultConfigurationError
from ._references import SecretRef
from ._vault_client import SecretMetadata

if TYPE_CHECKING:
    import redis
    from cryptography.fernet import Fernet  # imported where used: only apps with a shared cache need it

logger = logging.getLogger("appauth_core")

FORMAT = "appauth-secret-v1"
LEASE_SECONDS = 10.0  # longer than a Key Vault read with its retries should take
POLL_INTERVAL = 0.05


class SharedSecretCache(Protocol):
    """A cache shared across processes. ``timeout`` is in seconds; a missing or expired key is None."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, timeout: float) -> None: ...

    def delete(self, key: str) -> None: ...


@runtime_checkable
class SupportsAdd(Protocol):
    """Optional: set only if absent, True if it was set. Enables the cross-process fill lease."""

    def add(self, key: str, value: bytes, timeout: float) -> bool: ...


class RedisSecretCache:
    """``SharedSecretCache`` on Redis (``pip install 'appauth[redis]'``).

    ``url_or_client``: a ``redis://`` / ``rediss://`` URL or a ``redis.Redis`` the app already has. Every key
    is prefixed with ``prefix``. Socket timeouts are short on purpose: the cache is an optimisation, and
    when Redis does not answer the secret is read from Key Vault instead.
    """

    def __init__(
        self, url_or_client: str | redis.Redis, prefix: str = "appauth:", *, socket_timeout: float = 2.0
    ) -> None:
        try:
            import redis as redis_module
        except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
            raise ImportError(
                "RedisSecretCache needs redis-py: install appauth with the redis extra, pip install 'appauth[redis]'"
            ) from exc
        if isinstance(url_or_client, str):
            self._client = redis_module.Redis.from_url(
                url_or_client, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
            self._owned = True
        else:
            self._client = url_or_client
            self._owned = False
        self._prefix = prefix

    def __repr__(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        return f"RedisSecretCache({where!r}, prefix={self._prefix!r})"  # never the URL: it may hold a password

    @property
    def client(self) -> redis.Redis:
        """The redis-py client (the rotation events' pub/sub channel uses its connection pool)."""
        return self._client

    @property
    def prefix(self) -> str:
        return self._prefix

    def get(self, key: str) -> bytes | None:
        value: Any = self._client.get(self._prefix + key)
        return bytes(value) if value is not None else None

    def set(self, key: str, value: bytes, timeout: float) -> None:
        self._client.set(self._prefix + key, value, px=_milliseconds(timeout))

    def delete(self, key: str) -> None:
        self._client.delete(self._prefix + key)

    def add(self, key: str, value: bytes, timeout: float) -> bool:
        return bool(self._client.set(self._prefix + key, value, px=_milliseconds(timeout), nx=True))

    def close(self) -> None:
        if self._owned:
            self._client.close()


def _milliseconds(timeout: float) -> int:
    return max(int(timeout * 1000), 1)


def fernet_for(key: str | bytes) -> Fernet:
    """A Fernet for the app's key (``Fernet.generate_key()``); the error never shows the key."""
    from cryptography.fernet import Fernet

    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise KeyVaultConfigurationError(
            "encryption_key is not a Fernet key (32 url-safe base64-encoded bytes); make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        ) from None


@dataclass(frozen=True)
class SharedEntry:
    value: str = field(repr=False)
    metadata: SecretMetadata
    expires_at: float  # wall clock; the end of this value's TTL for every process


class SealedSharedCache:
    """Encrypts, names and leases entries in a ``SharedSecretCache``. Every engine error is logged and
    treated as a miss: the shared cache must never be the reason a secret cannot be read. ``namespace``
    gives the partition this app and identity read and write (``namespace_for``), asked on every use: the
    key may be rotated, and the provider is built on first use."""

    def __init__(
        self,
        backend: SharedSecretCache,
        cipher: Callable[[], Fernet | None],
        *,
        namespace: Callable[[], str],
        clock: Callable[[], float] = time.time,
        lease_seconds: float = LEASE_SECONDS,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._backend = backend
        self._cipher = cipher
        self._namespace = namespace
        self._clock = clock
        self._lease_seconds = lease_seconds
        self._poll_interval = poll_interval

    def __repr__(self) -> str:
        return f"SealedSharedCache({self._backend!r})"

    def key(self, ref: SecretRef) -> str:
        """The engine key of ``ref``'s entry in this app's and identity's partition."""
        return cache_key(ref, self._namespace())

    def read(self, ref: SecretRef) -> SharedEntry | None:
        key = self.key(ref)
        try:
            raw = self._backend.get(key)
        except Exception as exc:
            _engine_failed("read", ref, exc)
            return None
        return self._open(key, raw, ref) if raw is not None else None

    def write(self, ref: SecretRef, entry: SharedEntry, timeout: float) -> None:
        key = self.key(ref)
        try:
            self._backend.set(key, self._seal(key, entry), max(timeout, 1.0))
        except Exception as exc:
            _engine_failed("write", ref, exc)

    def delete(self, ref: SecretRef) -> bool:
        """Delete ``ref``'s entry; False (logged) when the engine failed."""
        try:
            self._backend.delete(self.key(ref))
        except Exception as exc:
            _engine_failed("delete", ref, exc)
            return False
        return True

    @contextlib.contextmanager
    def fill(self, ref: SecretRef) -> Iterator[SharedEntry | None]:
        """Yields an entry another process stored while we waited for its fill lease, or None: then this
        process reads Key Vault (and ``write``s). Without ``add`` on the engine there is no lease: None at once."""
        lease = self.key(ref) + ":lease"
        taken = self._take_lease(lease, ref)
        if taken is None:
            yield None
            return
        if taken is False:
            yield self._wait_for_filler(lease, ref)
            return
        try:
            # Look again: another process may have filled it and let go of its lease between our miss and
            # our lease; without this second look, both would read Key Vault.
            yield self.read(ref)
        finally:
            with contextlib.suppress(Exception):
                self._backend.delete(lease)

    def _take_lease(self, lease: str, ref: SecretRef) -> bool | None:
        """True: ours; False: another process holds it; None: no lease possible (no ``add``, engine error)."""
        if not isinstance(self._backend, SupportsAdd):
            return None
        try:
            return self._backend.add(lease, b"1", self._lease_seconds)
        except Exception as exc:
            _engine_failed("lease", ref, exc)
            return None

    def _wait_for_filler(self, lease: str, ref: SecretRef) -> SharedEntry | None:
        key = self.key(ref)
        deadline = time.monotonic() + self._lease_seconds
        while time.monotonic() < deadline:
            time.sleep(self._poll_interval)
            try:
                # The lease first: the filler stores the value before it lets go of the lease, so a lease
                # seen gone means the value (if any) is already there to read.
                filling = self._backend.get(lease) is not None
                raw = self._backend.get(key)
                if raw is not None:
                    return self._open(key, raw, ref)  # None if it cannot be opened: read it ourselves
                if not filling:
                    return None  # the filler gave up (Key Vault failed): read it ourselves
            except Exception as exc:
                _engine_failed("read", ref, exc)
                return None
        return None

    def _seal(self, key: str, entry: SharedEntry) -> bytes:
        payload = json.dumps(
            {"f": FORMAT, "k": key, "v": entry.value, "x": entry.expires_at, "m": _metadata_to_json(entry.metadata)}
        ).encode()
        cipher = self._cipher()
        return cipher.encrypt(payload) if cipher is not None else payload

    def _open(self, key: str, raw: bytes, ref: SecretRef) -> SharedEntry | None:
        from cryptography.fernet import InvalidToken

        cipher = self._cipher()
        try:
            payload = json.loads(cipher.decrypt(raw) if cipher is not None else raw)
            if payload.get("f") != FORMAT or payload.get("k") != key:
                raise ValueError("the entry belongs to another key or format")
            entry = SharedEntry(str(payload["v"]), _metadata_from_json(payload["m"]), float(payload["x"]))
        except (InvalidToken, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning(
                "The shared cache entry for %s could not be opened (%s); reading Key Vault instead. A different "
                "encryption_key in another process, or an unencrypted entry, does this.",
                ref,
                type(exc).__name__,
            )
            return None
        return entry if entry.expires_at > self._clock() else None


def cache_key(ref: SecretRef, namespace: str) -> str:
    """``kv:`` and a SHA-256 of (namespace, vault, name, version)."""
    digest = hashlib.sha256("\0".join((namespace, *ref.key)).encode()).hexdigest()
    return f"kv:{digest}"


def namespace_for(encryption_key: str | bytes | None, identity: str) -> str:
    """The partition of the shared cache one app and identity use: an HMAC-SHA256 of ``identity`` (who reads
    Key Vault, e.g. the provider's ``cache_identity``) keyed with the app's encryption key. Apps with
    different keys, and identities with different names, never share an entry; the engine sees neither the
    key nor the identity. Without a key (``allow_unencrypted_shared_cache``) only the identity separates."""
    key = encryption_key.encode() if isinstance(encryption_key, str) else encryption_key or b""
    return hmac.new(key, b"appauth-shared-cache\0" + identity.encode(), hashlib.sha256).hexdigest()


def _engine_failed(action: str, ref: SecretRef, exc: Exception) -> None:
    logger.warning(
        "The shared secret cache failed to %s %s (%s); using Key Vault directly", action, ref, type(exc).__name__
    )


def _timestamp(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _datetime(value: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(float(value), dt.timezone.utc) if value is not None else None


def _metadata_to_json(metadata: SecretMetadata) -> dict[str, Any]:
    return {
        "name": metadata.name,
        "vault_url": metadata.vault_url,
        "version": metadata.version,
        "content_type": metadata.content_type,
        "enabled": metadata.enabled,
        "created_on": _timestamp(metadata.created_on),
        "updated_on": _timestamp(metadata.updated_on),
        "not_before": _timestamp(metadata.not_before),
        "expires_on": _timestamp(metadata.expires_on),
        "tags": dict(metadata.tags),
    }


def _metadata_from_json(data: dict[str, Any]) -> SecretMetadata:
    return SecretMetadata(
        name=str(data["name"]),
        vault_url=str(data["vault_url"]),
        version=data.get("version"),
        content_type=data.get("content_type"),
        enabled=data.get("enabled"),
        created_on=_datetime(data.get("created_on")),
        updated_on=_datetime(data.get("updated_on")),
        not_before=_datetime(data.get("not_before")),
        expires_on=_datetime(data.get("expires_on")),
        tags=MappingProxyType({str(k): str(v) for k, v in (data.get("tags") or {}).items()}),
    )
