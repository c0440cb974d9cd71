"""``KeyVaultSecrets``: Key Vault secrets by name or by ``@Microsoft.KeyVault(...)`` reference, cached and
refreshed, for settings that must survive a rotation without a restart and a Key Vault outage without an
error page.

The parts live in their own modules: the allow-list (``vault_hosts``), the reference grammar
(``references``), the SDK client and its errors (``vault_client``), the in-process cache (``secret_cache``)
and the shared, encrypted cache (``shared_cache``). This module wires them together.
"""

from __future__ import annotations

import copy
import math
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .._internal import fork_safety
from .._internal.frame_locals import Hidden, clear_locals, clears_locals
from .._internal.setting_names import setting_name
from ..errors import AppAuthError, KeyVaultConfigurationError, KeyVaultError
from ..tokens._provider import AzureServiceTokenProvider
from ..tokens._vault_hosts import HostPattern, VaultHostAllowList, VaultOrigin
from ..tokens._vault_scope import key_vault_resource
from ._references import (
    DEFAULT_VAULT_SUFFIX,
    SecretRef,
    check_secret_name,
    check_secret_version,
    is_reference,
    parse_reference,
)
from ._secret_cache import MAX_ENTRIES, CachedSecret, SecretCache, bounded_put
from ._shared_cache import (
    RedisSecretCache,
    SealedSharedCache,
    SharedEntry,
    SharedSecretCache,
    SupportsAdd,
    fernet_for,
    namespace_for,
)
from ._vault_client import FetchedSecret, SecretMetadata, VaultClients
from ._vault_errors import VaultAdvice
from ._walk import find_references, replace_references

if TYPE_CHECKING:
    from cryptography.fernet import Fernet  # imported by shared_cache where used

__all__ = [
    "KeyVaultSecrets",
    "RedisSecretCache",
    "SecretMetadata",
    "SharedSecretCache",
    "SupportsAdd",
    "is_reference",
]

T = TypeVar("T")

JITTER = 0.1
"""A latest-version value is re-read after 90-100 % of ``cache_seconds``: never later than the TTL, and
secrets read together at startup do not all fall due in the same second."""
PINNED_SHARED_SECONDS = 7 * 24 * 3600.0
"""A pinned version never changes, but the shared engine should still forget it one day."""
MAX_CONCURRENCY = 64
"""Reads in flight at once in ``get_many`` / ``resolve_all`` / ``refresh()``: a settings module with up to 64
secrets costs one round trip at startup (.NET's ParallelSecretLoader uses 32; Key Vault allows 4,000
reads per 10 s per vault)."""
_MAX_KNOWN = 4096  # remembered (name, version) -> cache key pairs; cleared when full


class KeyVaultSecrets:
    """Secrets from Key Vault, cached per (vault, name, version).

    ``vault_url``: the default vault for ``get(name)`` (references may name others). ``provider``: the
    ``AzureServiceTokenProvider`` whose tokens are used (default: one built from the environment on first
    use). ``cache_seconds``: how long a latest-version value is served before it is re-read (pinned versions
    are never re-read). ``stale_seconds``: how long past that the last good value is still served while
    Key Vault cannot be reached. ``allowed_hosts``: vault hosts besides Azure's own suffixes and
    ``vault_url`` (``https://host:port``, ``host`` or ``*.suffix``). ``vault_suffix``: what
    ``VaultName=<v>`` references resolve under (``vault.azure.cn`` in Azure China ...).
    ``key_vault_resource``: the one Key Vault resource (token audience) besides Azure's public and sovereign
    ones (``https://vault.azure.net`` ...) that a vault's challenge may ask a token for, e.g.
    ``https://vault.local.azurestack.external`` on Azure Stack Hub; a challenge for any other resource
    raises ``VaultResourceNotAllowedError`` before a token is requested.
    ``shared_cache``: a cache shared across processes (``RedisSecretCache`` ...), whose entries are
    encrypted with ``encryption_key`` (a Fernet key, or a reference to one); without a key it is refused
    unless ``allow_unencrypted_shared_cache``. ``client_options``: extra ``SecretClient`` keyword arguments
    (``retry_total``, ``api_version``, ``connection_timeout`` ...). ``spell``: how errors name settings, for
    an adapter that reads them from its own (``"APPAUTH['{}']"``, see ``setting_names``); None names these
    arguments. ``clock`` and ``rng`` are for tests.
    """

    @clears_locals  # encryption_key
    def __init__(
        self,
        vault_url: str | None = None,
        provider: AzureServiceTokenProvider | None = None,
        *,
        cache_seconds: float = 300,
        stale_seconds: float = 3600,
        allowed_hosts: Iterable[str] = (),
        vault_suffix: str = DEFAULT_VAULT_SUFFIX,
        key_vault_resource: str | None = None,
        shared_cache: SharedSecretCache | None = None,
        encryption_key: str | bytes | None = None,
        allow_unencrypted_shared_cache: bool = False,
        max_concurrency: int = MAX_CONCURRENCY,
        client_options: Mapping[str, Any] | None = None,
        spell: str | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        _check_seconds(setting_name("SECRET_CACHE_SECONDS", spell), cache_seconds=cache_seconds)
        _check_seconds(None, stale_seconds=stale_seconds)
        if max_concurrency < 1:
            raise KeyVaultConfigurationError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self._vault = _vault_origin(vault_url, setting_name("KEY_VAULT_URL", spell)) if vault_url else None
        self._vault_suffix = vault_suffix
        self._spell = spell
        self._hosts = _allow_list(self._vault, vault_suffix, allowed_hosts, spell)
        self._cache_seconds = float(cache_seconds)
        self._stale_seconds = float(stale_seconds)
        self._max_concurrency = max_concurrency
        self._clock, self._rng = clock, rng
        self._provider = provider
        self._provider_lock = threading.Lock()
        fork_safety.new_lock_in_child(self, "_provider_lock")
        self._clients = VaultClients(
            self._credential,
            max_connections=max_concurrency,
            client_options=client_options,
            key_vault_resource=_resource(key_vault_resource, spell) if key_vault_resource else None,
            advice=VaultAdvice(spell, self._vault, vault_suffix.strip(".")),
        )
        self._cache = SecretCache(clock)
        self._refs: dict[Hashable, SecretRef] = {}
        # (name, version) -> cache key, remembered after a first read passed every check (name, version,
        # allowed host): a cached ``get`` is then two dict lookups and a clock read (bench/cached_secret.py).
        self._known: dict[tuple[str, str | None], Hashable] = {}
        self._key_cache = SecretCache(clock)  # the encryption key's own: it must never go through the shared cache
        self._key_ref: SecretRef | None = None
        self._fernet: tuple[str | bytes, Fernet] | None = None
        self._on_read: Callable[[], None] | None = None  # before every read past the fast path (_invalidation)
        try:
            self._shared = self._shared_cache(shared_cache, encryption_key, allow_unencrypted_shared_cache)
        except KeyVaultError as error:  # made here, for this call: naming the setting at fault shares nothing
            error.setting = setting_name("CACHE_ENCRYPTION_KEY", spell)
            raise

    def __repr__(self) -> str:
        vault = self._vault.url if self._vault else None
        return (
            f"KeyVaultSecrets(vault_url={vault!r}, cache_seconds={self._cache_seconds:g}, "
            f"stale_seconds={self._stale_seconds:g}, shared_cache={self._shared!r})"
        )

    # --- reading ----------------------------------------------------------------------------------

    def get(self, name: str, version: str | None = None) -> str:
        """The secret's value (``version`` None: the latest) from the default vault."""
        key = self._known.get((name, version))
        if key is not None:
            entry = self._cache.peek(key)
            if entry is not None:
                return entry.value
        return self._get(name, version)

    @clears_locals
    def _get(self, name: str, version: str | None) -> str:
        """``get`` past the fast path (cached values): checks, the read, and the name remembered."""
        ref = self._ref(name, version)
        value = self._read(ref).value
        if len(self._known) >= _MAX_KNOWN:  # an app reading endless names stays bounded
            self._known.clear()
        self._known[(name, version)] = ref.key
        return value

    async def get_async(self, name: str, version: str | None = None) -> str:
        """``get`` for async code: a cached value is returned on the loop; a read runs in a thread."""
        key = self._known.get((name, version))
        entry = self._cache.peek(key) if key is not None else None
        if entry is not None:
            return entry.value
        return await _to_thread(self.get, name, version)

    async def get_many_async(self, names: Iterable[str]) -> dict[str, str]:
        """``get_many`` for async code: all cached, answered on the loop; else one thread reads the rest
        concurrently, as ``get_many`` does (not one thread per name)."""
        wanted = list(names)
        entries: dict[str, CachedSecret] = {}  # not the values: this frame is in the traceback if a read fails
        for name in wanted:
            key = self._known.get((name, None))
            entry = self._cache.peek(key) if key is not None else None
            if entry is None:
                return await _to_thread(self.get_many, wanted)
            entries[name] = entry
        return {name: entry.value for name, entry in entries.items()}

    async def resolve_async(self, value: str) -> str:
        """``resolve`` for async code: a string that is not a reference never leaves the loop."""
        if not is_reference(value):
            return value
        return await _to_thread(self.resolve, value)

    @clears_locals
    def get_many(self, names: Iterable[str]) -> dict[str, str]:
        """Latest values of several secrets, read concurrently (50 names cost about one round trip)."""
        refs = {name: self._ref(name) for name in names}
        entries = self._read_many(refs.values())
        return {name: entries[ref.key].value for name, ref in refs.items()}

    @clears_locals
    def describe(self, name: str, version: str | None = None) -> SecretMetadata:
        """Everything about the secret but its value (read, and cached, as ``get`` does)."""
        return self._read(self._ref(name, version)).metadata

    @clears_locals
    def refresh(self, name: str | None = None) -> None:
        """Re-read now, whatever the cache holds: ``name`` (a secret in the default vault, or a reference),
        or every latest-version secret in the cache. Other processes sharing the cache get the new value
        when their own copy falls due. Raises what the re-read raised; a value already cached stays served
        to other callers unless Key Vault answered that it is gone or forbidden."""
        if name is None:
            cached = [self._refs[key] for key in self._cache.cached_keys() if key in self._refs]
            refs = [ref for ref in cached if ref.version is None]
        else:
            refs = [parse_reference(name, vault_suffix=self._vault_suffix) if is_reference(name) else self._ref(name)]
        self._read_many(refs, force=True)

    # --- references -------------------------------------------------------------------------------

    @clears_locals
    def resolve(self, value: str) -> str:
        """The secret a ``@Microsoft.KeyVault(...)`` reference names; any other string comes back as it is."""
        if not is_reference(value):
            return value
        return self._read(parse_reference(value, vault_suffix=self._vault_suffix)).value

    @clears_locals
    def resolve_all(self, data: T) -> T:
        """``data`` (mappings, lists, tuples, nested) with every reference replaced by its value: the containers
        on the way to a reference are copied, keeping their types, the rest is shared with ``data``, which is
        left as it is. All references are checked before any request, then read concurrently."""
        found = list(find_references(data))
        refs = {text: parse_reference(text, vault_suffix=self._vault_suffix) for _, text in found}
        entries = self._read_many(refs.values())
        return cast(T, replace_references(data, {path: entries[refs[text].key].value for path, text in found}))

    # --- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the vault clients' connections (the shared cache and the provider belong to the app)."""
        self._clients.close()

    def __enter__(self) -> KeyVaultSecrets:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- internals: which secret ------------------------------------------------------------------

    def _ref(self, name: str, version: str | None = None) -> SecretRef:
        if self._vault is None:
            setting = setting_name("KEY_VAULT_URL", self._spell)
            raise KeyVaultConfigurationError(
                f"no vault URL: set {setting} to 'https://<vault>.vault.azure.net/' to read secrets by name "
                "(references name their own vault)",
                secret_name=name if isinstance(name, str) else None,
                setting=setting,
            )
        check_secret_name(name, vault_url=self._vault.url)
        return SecretRef(self._vault, name, check_secret_version(version, name=name, vault_url=self._vault.url))

    def _credential(self) -> AzureServiceTokenProvider:
        with self._provider_lock:
            if self._provider is None:
                self._provider = AzureServiceTokenProvider()
            return self._provider

    # --- internals: reading -----------------------------------------------------------------------

    def _read(self, ref: SecretRef, *, force: bool = False) -> CachedSecret:
        self._hosts.check(ref.origin, ref.name)  # before any token is asked for
        if self._on_read is not None:
            self._on_read()
        if ref.key not in self._refs:
            bounded_put(self._refs, ref.key, ref, MAX_ENTRIES)  # bounded as the cache is
        return self._cache.get(ref.key, lambda: self._load(ref, force=force), label=f"secret {ref}", force=force)

    def _read_many(self, refs: Iterable[SecretRef], *, force: bool = False) -> dict[Hashable, CachedSecret]:
        """The entries (whose ``repr`` hides the value) of several secrets; unwrapped by the public methods.
        Every host is checked before the first request; the first failure, in the callers' order, is raised."""
        unique = {ref.key: ref for ref in refs}
        for ref in unique.values():
            self._hosts.check(ref.origin, ref.name)  # every host before the first request
        outcomes = self._entries(list(unique.values()), force=force)
        failed = [(ref, error) for ref in unique.values() if isinstance(error := outcomes[ref.key], AppAuthError)]
        if failed:
            raise _with_note_on_the_others(failed, read=len(outcomes))
        return cast("dict[Hashable, CachedSecret]", outcomes)

    def _resolve_each(
        self, references: Iterable[str], *, all_or_nothing: bool = False
    ) -> dict[str, Hidden[str] | AppAuthError]:
        """``resolve_each`` (see there)."""
        refs: dict[str, SecretRef] = {}
        refused: dict[str, AppAuthError] = {}
        texts = list(dict.fromkeys(references))
        for text in texts:
            try:
                ref = parse_reference(text, vault_suffix=self._vault_suffix)
                self._hosts.check(ref.origin, ref.name)  # every host before the first request
            except KeyVaultError as error:
                refused[text] = error
            else:
                refs[text] = ref
        if refused and all_or_nothing:
            return dict(refused)
        read = self._entries(list({ref.key: ref for ref in refs.values()}.values()), force=False)
        outcomes: dict[str, Hidden[str] | AppAuthError] = {}
        for text in texts:
            outcome = refused[text] if text in refused else read[refs[text].key]
            outcomes[text] = Hidden(outcome.value) if isinstance(outcome, CachedSecret) else outcome
        return outcomes

    def _entries(self, refs: list[SecretRef], *, force: bool) -> dict[Hashable, CachedSecret | AppAuthError]:
        """Each of ``refs`` (unique, their hosts checked): its cached entry (unless ``force``), else what reading
        it gave, the entry or the error. The one pool of reads: at most ``max_concurrency`` at once."""
        outcomes: dict[Hashable, CachedSecret | AppAuthError] = {}
        pending = []
        for ref in refs:
            entry = None if force else self._cache.peek(ref.key)
            if entry is not None:
                outcomes[ref.key] = entry
            else:
                pending.append(ref)
        if len(pending) == 1:  # on this thread
            try:
                outcomes[pending[0].key] = self._read(pending[0], force=force)
            except AppAuthError as error:
                clear_locals(error)  # kept, not raised: no entry point on the way clears it
                outcomes[pending[0].key] = error
            return outcomes
        if not pending:
            return outcomes
        workers = min(self._max_concurrency, len(pending))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="appauth-keyvault") as pool:
            futures = [(ref, pool.submit(self._read, ref, force=force)) for ref in pending]
        for ref, future in futures:
            failure = future.exception()
            if failure is None:
                outcomes[ref.key] = future.result()
            elif isinstance(failure, AppAuthError):
                clear_locals(failure)
                outcomes[ref.key] = failure
            else:
                raise failure  # not one of ours: a bug, raised as it is
        return outcomes

    def _load(self, ref: SecretRef, *, force: bool) -> CachedSecret:
        shared = self._shared
        if shared is None:
            return self._entry(ref, self._clients.fetch(ref))
        if not force:
            hit = shared.read(ref)
            if hit is not None:
                return self._entry_from_shared(ref, hit)
            with shared.fill(ref) as filled:
                if filled is not None:
                    return self._entry_from_shared(ref, filled)
                return self._fetch_and_share(ref, shared)
        return self._fetch_and_share(ref, shared)

    def _fetch_and_share(self, ref: SecretRef, shared: SealedSharedCache) -> CachedSecret:
        entry = self._entry(ref, self._clients.fetch(ref))
        pinned = math.isinf(entry.refresh_at)
        expires_at = self._clock() + PINNED_SHARED_SECONDS if pinned else entry.refresh_at
        shared.write(ref, SharedEntry(entry.value, entry.metadata, expires_at), expires_at - self._clock())
        return entry

    def _entry(self, ref: SecretRef, fetched: FetchedSecret) -> CachedSecret:
        if ref.version is not None:  # a pinned version never changes: never re-read
            return CachedSecret(fetched.value, fetched.metadata, math.inf, math.inf)
        refresh_at = self._clock() + self._cache_seconds * (1.0 - JITTER * self._rng())
        return CachedSecret(fetched.value, fetched.metadata, refresh_at, refresh_at + self._stale_seconds)

    def _entry_from_shared(self, ref: SecretRef, shared: SharedEntry) -> CachedSecret:
        if ref.version is not None:
            return CachedSecret(shared.value, shared.metadata, math.inf, math.inf)
        return CachedSecret(shared.value, shared.metadata, shared.expires_at, shared.expires_at + self._stale_seconds)

    # --- internals: the shared cache and its key --------------------------------------------------

    def _shared_cache(
        self, backend: SharedSecretCache | None, key: str | bytes | None, allow_unencrypted: bool
    ) -> SealedSharedCache | None:
        if backend is None:
            return None
        if key is None and not allow_unencrypted:
            raise KeyVaultConfigurationError(
                "a shared cache stores secret values outside this process, so it needs an encryption_key (a Fernet "
                "key, or a @Microsoft.KeyVault(...) reference to one); pass allow_unencrypted_shared_cache=True "
                "only if the cache itself is trusted with plaintext secrets"
            )
        if isinstance(key, str) and is_reference(key):
            self._key_ref = parse_reference(key, vault_suffix=self._vault_suffix)
            self._hosts.check(self._key_ref.origin, self._key_ref.name)
        elif key is not None:
            self._fernet = (key, fernet_for(key))
        return SealedSharedCache(backend, self._cipher, namespace=self._shared_namespace, clock=self._clock)

    def _shared_namespace(self) -> str:
        """This app's and identity's partition of the shared cache (``namespace_for``): the encryption key
        (read from Key Vault first when it is a reference) and the provider's ``cache_identity``."""
        self._cipher()
        key = self._fernet[0] if self._fernet is not None else None
        return namespace_for(key, self._credential().cache_identity)

    def _cipher(self) -> Fernet | None:
        """The Fernet for the shared cache: fixed, or read (and re-read on its TTL) from Key Vault."""
        if self._key_ref is not None:
            ref = self._key_ref
            key = self._key_cache.get(
                ref.key, lambda: self._entry(ref, self._clients.fetch(ref)), label=f"encryption key {ref}"
            ).value
            if self._fernet is None or self._fernet[0] != key:
                self._fernet = (key, fernet_for(key))
        return self._fernet[1] if self._fernet is not None else None


def _check_seconds(setting: str | None, **values: float) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
            raise KeyVaultConfigurationError(f"{name} must be a number of seconds >= 0, got {value!r}", setting=setting)


def _vault_origin(vault_url: str, setting: str) -> VaultOrigin:
    try:
        return VaultOrigin.parse(vault_url)
    except ValueError as exc:
        raise KeyVaultConfigurationError(
            f"vault_url {vault_url!r} is not a vault URL ({exc}); e.g. 'https://myvault.vault.azure.net/'",
            setting=setting,
        ) from None


def _resource(value: str, spell: str | None) -> str:
    try:
        return key_vault_resource(value)
    except ValueError as exc:
        raise KeyVaultConfigurationError(str(exc), setting=setting_name("KEY_VAULT_RESOURCE", spell)) from None


def _allow_list(
    vault: VaultOrigin | None, suffix: str, allowed_hosts: Iterable[str], spell: str | None
) -> VaultHostAllowList:
    """The allow-list; a wrong entry or suffix is ``KeyVaultConfigurationError`` naming its own setting."""
    entries = [allowed_hosts] if isinstance(allowed_hosts, str) else list(allowed_hosts)
    hosts = setting_name("ALLOWED_VAULT_HOSTS", spell)
    try:
        patterns = [HostPattern.parse(entry) for entry in entries]
    except ValueError as exc:
        raise KeyVaultConfigurationError(str(exc), setting=hosts) from None
    try:
        allowed = VaultHostAllowList.build(vault=vault, vault_suffix=suffix.strip("."), setting=hosts)
    except ValueError as exc:
        raise KeyVaultConfigurationError(
            f"vault_suffix {suffix!r}: {exc}", setting=setting_name("VAULT_SUFFIX", spell)
        ) from None
    return VaultHostAllowList([*allowed.patterns, *patterns], setting=hosts)


def _with_note_on_the_others(failed: list[tuple[SecretRef, AppAuthError]], *, read: int) -> AppAuthError:
    """The first failure, as its own type (``except SecretNotFoundError`` still works), with a note naming the
    others, so that one run shows every secret to fix. A copy carries the note: the error itself may be shared
    with other callers (single flight)."""
    first = failed[0][1]
    if len(failed) == 1:
        return first
    others = ", ".join(f"{ref.name!r} ({type(error).__name__})" for ref, error in failed[1:])
    note = f"{len(failed) - 1} more of the {read} secrets read together failed: {others}"
    noted = copy.copy(first)
    # add_note(), without sharing the list, and on 3.10 too (tracebacks show notes from 3.11)
    setattr(noted, "__notes__", [*getattr(first, "__notes__", []), note])  # noqa: B010
    return noted.with_traceback(first.__traceback__)


def resolve_each(
    secrets: KeyVaultSecrets, references: Iterable[str], *, all_or_nothing: bool = False
) -> dict[str, Hidden[str] | AppAuthError]:
    """Every one of ``references`` (``@Microsoft.KeyVault(...)`` texts) resolved once, concurrently with the
    others, by ``secrets``: {reference: its value, hidden from reprs, or the error}. Each is parsed and its
    vault checked against the allow-list before any request; with ``all_or_nothing``, a malformed or not
    allowed reference means nothing is read and only those are answered. For the adapters' settings-time
    resolution and diagnostics: one pool of reads for all of them."""
    return secrets._resolve_each(references, all_or_nothing=all_or_nothing)


async def _to_thread(function: Callable[..., T], *args: Any) -> T:
    """``asyncio.to_thread``, with asyncio imported only by apps that use the async methods (import time)."""
    import asyncio

    return await asyncio.to_thread(function, *args)
