"""``TokenValidator``: Entra ID access tokens checked for one API, and remembered once checked.

A token is checked once: its header (RS256, a ``kid``), its claims (``_claims.check``: tenant, audience,
lifetime, caller, issuer), then its signature with the published key (``_metadata``). The ``Caller`` it
describes is kept, keyed by the SHA-256 of the token (never the token itself), until the token expires, in
a bounded cache; the same token again costs a hash, a dict lookup and a clock read. The roles and scopes a
call asks for are checked on every call, cached or not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable
from hashlib import sha256
from typing import Any

from .._internal import fork_safety
from .._internal.frame_locals import clears_locals
from ..errors import InsufficientScopeError, TokenValidationError
from . import _claims, _jws
from ._arguments import DEFAULT_AUTHORITY, Arguments, Name
from ._caller import Caller, Version
from ._metadata import AuthorityMetadata

MAX_CACHED_TOKENS = 4096
"""Callers kept for tokens seen before; past this the oldest go first (each entry is ~2 KiB of claims)."""


_now = time.time  # the clock tokens' exp and nbf are read against (a module global: the fastest lookup)


def _digest(token: str) -> bytes:
    """The cache's key for ``token``: its SHA-256 (the cache never holds a token). Empty for a value that is no
    text (not a str, lone surrogates), which the full check then refuses."""
    try:
        return sha256(token.encode()).digest()
    except (AttributeError, UnicodeError):
        return b""


def _names(names: Iterable[str]) -> Collection[str]:
    """Role or scope names as given: a string is one name, not its letters; an iterator is read once."""
    if isinstance(names, str):
        return (names,)
    return names if isinstance(names, (tuple, list, frozenset, set)) else tuple(names)


class _NeedsFetch(Exception):
    """Raised on the event loop's thread when checking a token would need a request (run it in a thread)."""


class TokenValidator:
    """Checks the Entra ID access tokens an API is called with.

    ``audience``: the App ID URI (``api://orders``) and/or client id the tokens must be for (v1 tokens carry
    what the caller asked for, usually the App ID URI; v2 tokens the client id): a string or a list.
    ``tenant_id``: the one tenant (its Directory ID, a GUID) whose tokens are accepted; or
    ``allowed_tenants``: several (a list of GUIDs), or ``["*"]`` for any tenant (a multi-tenant API that
    authorises callers itself; the issuer is still checked against the token's own tenant). Exactly one of
    the two. ``allowed_client_ids``: if given, only these calling applications (``appid`` / ``azp``).
    ``authority``: the Entra ID sign-in URL of the cloud (``https://login.microsoftonline.us/`` for US
    Government). ``leeway``: seconds of clock skew allowed on ``exp`` and ``nbf`` (0 to 300).

    Bad arguments raise ``ConfigError`` naming the argument. Constructing does no I/O: the OpenID metadata
    and keys are fetched when the first token needs them, then cached (see ``_metadata``). One validator is
    meant to serve a whole process: make it once, share it between threads."""

    def __init__(
        self,
        audience: str | Iterable[str],
        *,
        tenant_id: str | None = None,
        allowed_tenants: Iterable[str] | None = None,
        allowed_client_ids: Iterable[str] | None = None,
        authority: str = DEFAULT_AUTHORITY,
        leeway: float = 60,
    ) -> None:
        self._setup(Arguments.check(audience, tenant_id, allowed_tenants, allowed_client_ids, authority, leeway))

    @classmethod
    def _from_arguments(cls, arguments: Any, name: Name) -> TokenValidator:
        """From a mapping of argument names to values (settings), spelling each argument with ``name``."""
        validator = cls.__new__(cls)
        get = arguments.get
        validator._setup(
            Arguments.check(
                get("audience"),
                get("tenant_id"),
                get("allowed_tenants"),
                get("allowed_client_ids"),
                get("authority", DEFAULT_AUTHORITY),
                get("leeway", 60),
                name,
            )
        )
        return validator

    def _setup(self, arguments: Arguments) -> None:
        self._arguments = arguments
        self._metadata = AuthorityMetadata(arguments.authority, arguments.tenant_segment)
        self._cache: dict[bytes, tuple[Caller, float]] = {}  # kept in a forked child: as valid there
        self._cache_lock = threading.Lock()
        fork_safety.new_lock_in_child(self, "_cache_lock")

    def __repr__(self) -> str:
        arguments = self._arguments
        tenants = "*" if arguments.tenants is None else sorted(arguments.tenants)
        return f"TokenValidator(audience={sorted(arguments.audiences)!r}, tenants={tenants!r})"

    # --- checking tokens -----------------------------------------------------------------------------

    def validate(self, token: str, *, roles: Iterable[str] = (), scopes: Iterable[str] = ()) -> Caller:
        """The ``Caller`` of ``token`` (the bearer token, without ``Bearer``), which must also hold every app
        role in ``roles`` and delegated scope in ``scopes`` (a string is one name). ``TokenValidationError``
        (401) if it is not a valid token for this API, ``InsufficientScopeError`` (403) if it lacks a role or
        scope, ``SigningKeysUnavailableError`` (503) if the authority's keys cannot be had. May fetch the
        authority's metadata (the first token, an unknown key); a token seen before is answered from memory."""
        try:
            digest = _digest(token)
            hit = self._cache.get(digest)
            if hit is not None and hit[1] > _now():
                return self.authorize(hit[0], roles=roles, scopes=scopes) if roles or scopes else hit[0]
            return self._check(token, digest, roles, scopes, True)
        except BaseException:
            del token  # this frame stays in the traceback: it must not hold the token
            raise

    async def validate_async(self, token: str, *, roles: Iterable[str] = (), scopes: Iterable[str] = ()) -> Caller:
        """``validate``, awaited: a token seen before, or one whose keys are known, is checked on the event
        loop (microseconds); one that needs a request (the first token, an unknown key) in a worker thread."""
        try:
            digest = _digest(token)
            hit = self._cache.get(digest)
            if hit is not None and hit[1] > _now():
                return self.authorize(hit[0], roles=roles, scopes=scopes) if roles or scopes else hit[0]
            try:
                return self._check(token, digest, roles, scopes, False)
            except _NeedsFetch:
                pass
            box = [token]  # handed over in a box emptied by the thread: to_thread's frame keeps its arguments
            del token
            import asyncio  # imported by the first async validation, not with appauth_core

            return await asyncio.to_thread(self._check_boxed, box, digest, roles, scopes)
        except BaseException:
            token = box = None  # type: ignore[assignment]  # noqa: F841 - the traceback keeps this frame: no token in it
            raise

    def authorize(self, caller: Caller, *, roles: Iterable[str] = (), scopes: Iterable[str] = ()) -> Caller:
        """``caller``, if it holds every role in ``roles`` and scope in ``scopes`` (a string is one name);
        else ``InsufficientScopeError`` (403). For checks made after ``validate`` (a DRF permission class)."""
        need_roles, need_scopes = _names(roles), _names(scopes)
        if caller.roles.issuperset(need_roles) and caller.scopes.issuperset(need_scopes):
            return caller
        missing_roles = [r for r in need_roles if r not in caller.roles]
        missing_scopes = [s for s in need_scopes if s not in caller.scopes]
        if missing_roles or missing_scopes:
            raise InsufficientScopeError(caller, missing_roles=missing_roles, missing_scopes=missing_scopes)
        return caller

    def _check_boxed(self, box: list[str], digest: bytes, roles: Iterable[str], scopes: Iterable[str]) -> Caller:
        return self._check(box.pop(), digest, roles, scopes, True)

    @clears_locals
    def _check(self, token: str, digest: bytes, roles: Iterable[str], scopes: Iterable[str], may_fetch: bool) -> Caller:
        """A token not seen before (or expired since): checked in full, remembered, then authorised."""
        jws = _jws.read(token)
        version = _claims.version_of(jws.claims)
        metadata = self._metadata

        def issuer(of: Version) -> str:
            known = metadata.ready_issuer(of)
            if known is not None:
                return known
            if not may_fetch:
                raise _NeedsFetch
            return metadata.issuer(of)

        now = _now()
        accepted_until = _claims.check(jws.claims, version, self._arguments, issuer, now)
        kid = jws.header["kid"]
        key = metadata.ready_key(kid)
        if key is None:
            if not may_fetch:
                raise _NeedsFetch
            key = metadata.key(kid, version)
        if key is None:
            raise TokenValidationError(
                f"no published signing key has the kid {_claims.shown(kid)} (the key set was fetched again at most "
                "5 minutes ago): the token is forged, or signed by another authority"
            )
        _jws.verify_rs256(jws, key)
        caller = _claims.caller_of(jws.claims, version)
        if digest:
            self._remember(digest, caller, accepted_until)
        if roles or scopes:
            self.authorize(caller, roles=roles, scopes=scopes)
        return caller

    def _remember(self, digest: bytes, caller: Caller, until: float) -> None:
        with self._cache_lock:
            cache = self._cache
            if len(cache) >= MAX_CACHED_TOKENS:
                now = _now()
                for stale in [d for d, (_, ends) in cache.items() if ends <= now]:
                    del cache[stale]
                while len(cache) >= MAX_CACHED_TOKENS:
                    del cache[next(iter(cache))]  # the oldest: dicts keep insertion order
            cache[digest] = (caller, until)
