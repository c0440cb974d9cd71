"""``DownstreamApi``: a ``requests.Session`` for one API this app calls, bound to its base URL, with the token
for it on every request (``RequestsTokenAuth``).

    orders = DownstreamApi("orders", "https://orders.example.com/api/", "api://orders", provider)
    orders.get("orders/1")              # https://orders.example.com/api/orders/1, with the token
    orders.get("https://example.org/")  # another origin: sent as asked, without the token

What it adds to a plain session:

- relative URLs are joined onto the base URL the way httpx's ``base_url`` joins them (the base URL's path is
  kept: ``/orders/1`` and ``orders/1`` both go below ``/api/``), absolute ones are used as they are;
- the token goes only to the base URL's origin (``RequestsTokenAuth(base_url=...)``), and redirects elsewhere
  drop it (requests does);
- every request has a timeout unless it passes its own (requests has none by default: a hung API hangs the
  caller);
- pooled connections are shared per process: every ``DownstreamApi`` of one name and one identity (the
  provider's ``cache_identity``) uses one adapter, so the web adapters' per-app services, tests and a
  ``DownstreamApi`` built per request all reuse the same keep-alive connections. The adapter shares its TLS
  context per CA bundle (``http_trust.SharedTrustAdapter``, as appauth's own sessions do);
- fork-safe as appauth's own sessions are (``fork_safety.close_connections_in_child``: a forked worker drops the
  inherited connections and opens its own);
- no cookies are kept: one session shared by every request of a web app would otherwise send one caller's
  cookies with the next caller's request. A request's own ``cookies=`` are still sent.

Why not ``_internal.http_sessions.new_session``, appauth's factory for its own sessions: those never follow a
redirect and read each reply whole within a size cap, which is right for a token endpoint or Key Vault and wrong
for an app's API (redirects, streamed downloads). This uses its building blocks (the shared TLS trust, the fork
hook) instead.
"""

from __future__ import annotations

import http.cookiejar
import re
import sys
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import requests

from .._internal import fork_safety
from .._internal.frame_locals import clears_locals
from .._internal.http_trust import SharedTrustAdapter
from ..errors import ConfigError
from ..tokens._provider import AzureServiceTokenProvider
from ._hosts import check_base_url
from ._requests_auth import RequestsTokenAuth

if TYPE_CHECKING:
    import httpx

DEFAULT_TIMEOUT = (5.0, 30.0)
"""Seconds to connect, and to wait for each piece of the reply (requests' ``timeout=(connect, read)``)."""
POOL_MAXSIZE = 32  # connections kept per host: a threaded server calling one API from 32 threads reuses them all
MAX_SHARED_ADAPTERS = 64  # (name, identity) pairs kept; past that the least recently used is dropped

_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_lock = threading.Lock()
fork_safety.new_lock_in_child(sys.modules[__name__])  # the adapters stay: fork_safety drops their connections
_adapters: OrderedDict[tuple[str, str], SharedTrustAdapter] = OrderedDict()

Timeout = float | tuple[float, float]


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keep no cookie an API sets (see the module docstring)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class DownstreamApi(requests.Session):
    """A session for the API called ``name`` at ``base_url`` (https; http only to a loopback host), carrying a
    token for ``resource`` (its App ID URI, e.g. ``api://orders``) from ``provider`` (None: the process-wide
    default ``AzureServiceTokenProvider()``). ``timeout``: each request's unless it passes one (seconds, or
    ``(connect, read)``). See the module docstring for what it does; bad arguments raise ``ConfigError``.

    ``close()`` leaves the pooled connections open: they are the process's, shared with every other
    ``DownstreamApi`` of this name and identity."""

    def __init__(
        self,
        name: str,
        base_url: str,
        resource: str,
        provider: AzureServiceTokenProvider | None = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"DownstreamApi(name=...) must be a non-empty string, not {name!r}.", key="name")
        check_base_url(base_url, setting="DownstreamApi(base_url=...)")
        super().__init__()
        self.name = name
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.resource = resource
        self.timeout = _checked_timeout(timeout)
        self._provider = provider
        self.auth = RequestsTokenAuth(resource, provider, base_url=self.base_url)
        self.cookies.set_policy(_NoCookies())
        adapter = _shared_adapter(name, provider)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"DownstreamApi({self.name!r}, base_url={self.base_url!r}, resource={self.resource!r})"

    def url_for(self, url: str) -> str:
        """``url`` as it will be requested: below the base URL unless it is absolute (``scheme://...``)."""
        if _ABSOLUTE.match(url):
            return url
        return self.base_url + url.lstrip("/")

    @clears_locals  # below here, requests' and urllib3's frames hold the request's headers, token included
    def request(  # requests' own signature, the URL joined onto the base URL and a default timeout
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if not args:  # timeout is the eighth positional argument: only keywords are looked at
            kwargs.setdefault("timeout", self.timeout)
        text = url.decode() if isinstance(url, bytes) else url
        return super().request(method, self.url_for(text), *args, **kwargs)

    def close(self) -> None:
        """Nothing to release: the connections are shared (see the class docstring)."""

    def async_client(self, **options: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` for this API (needs the ``httpx`` extra): the same base URL, token
        (``HttpxTokenAuth``), timeout and redirects; ``options`` go to ``AsyncClient``. The caller owns it
        (``async with api.async_client() as client``): an async connection pool belongs to one event loop, so it
        cannot be shared per process as this session's is."""
        import httpx

        from ._httpx_auth import HttpxTokenAuth

        connect, read = self.timeout if isinstance(self.timeout, tuple) else (self.timeout, self.timeout)
        options.setdefault("timeout", httpx.Timeout(read, connect=connect))
        options.setdefault("follow_redirects", True)
        auth = HttpxTokenAuth(self.resource, self._provider, base_url=self.base_url)
        return httpx.AsyncClient(base_url=self.base_url, auth=auth, **options)


def _checked_timeout(timeout: object) -> Timeout:
    def positive(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")

    if positive(timeout):
        return float(timeout)  # type: ignore[arg-type,unused-ignore]
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(positive(part) for part in timeout):
        return (float(timeout[0]), float(timeout[1]))
    raise ConfigError(
        f"DownstreamApi(timeout=...) must be seconds (e.g. 30) or (connect, read) seconds (e.g. (5, 30)), not "
        f"{timeout!r}: a request without a timeout waits for a hung API forever.",
        key="timeout",
    )


def _shared_adapter(name: str, provider: AzureServiceTokenProvider | None) -> SharedTrustAdapter:
    """The process's adapter (connection pools) for ``name`` and the identity the tokens are for."""
    key = (name, provider.cache_identity if provider is not None else "default")
    with _lock:
        adapter = _adapters.get(key)
        if adapter is not None:
            _adapters.move_to_end(key)
            return adapter
        adapter = _adapters[key] = SharedTrustAdapter(pool_maxsize=POOL_MAXSIZE)
        fork_safety.close_connections_in_child(adapter)
        while len(_adapters) > MAX_SHARED_ADAPTERS:
            _adapters.popitem(last=False)  # dropped, not closed: sessions still using it keep it alive
        return adapter
