"""Which requests may carry the token: the host it was meant for, and never over plain http off this machine.

A token for ``api://orders`` is a key to the orders API: sent anywhere else, it can be replayed there. So an
outbound auth puts the ``Authorization`` header only on a request

- over https, or over http to this machine (127.0.0.0/8, ``::1``, ``localhost``: local development, where
  the token never crosses a network), and
- to one of the configured base URLs' origins (scheme, host and port: another port on the same host is another
  server), when base URLs are configured. Without any, the auth trusts the URL of each request it is given.

Redirects are the HTTP libraries' business, and both already drop the header when a redirect leaves the
origin (requests' ``Session.rebuild_auth``, httpx's ``_redirect_headers``); docs/calling-apis.md says how that
was checked. What this module adds is the refusal of a request that was sent to the wrong host in the first
place (an absolute URL on a ``DownstreamApi``, a URL built from user input).

The check runs on every request, so its answer is remembered per origin as the library spells it (requests: the
URL up to its path; httpx: scheme, host and port), and a URL is parsed only the first time its origin is seen.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import idna

from ..errors import ConfigError

DEFAULT_PORTS = {"https": 443, "http": 80}
_MAX_REMEMBERED = 512  # origins a process talks to; past that the memory starts over (a crawler stays bounded)


@dataclass(frozen=True)
class Origin:
    """Scheme, lower-case ASCII host (IDNA-encoded, no brackets) and explicit port."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS.get(self.scheme)
        return f"{self.scheme}://{host}" if self.port == default else f"{self.scheme}://{host}:{self.port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: object, *, setting: str) -> Origin:
    """The origin of a base URL a token is configured for; ``ConfigError`` (``key=setting``) unless it is an
    absolute https URL (http only to a loopback host), without user name, password, query or fragment."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(
            f"{setting} is required: the API's base URL, e.g. 'https://orders.example.com/'.", key=setting
        )
    problem = _base_url_problem(url)
    if problem is not None:
        raise ConfigError(f"{setting} {url!r} is not a base URL a token may be sent to: {problem}.", key=setting)
    origin = _origin(urlsplit(url))
    assert origin is not None  # _base_url_problem parsed it
    return origin


def _base_url_problem(url: str) -> str | None:
    if "\\" in url or any(c.isspace() for c in url):
        return "it contains a backslash or whitespace"
    parts = urlsplit(url)
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        return "it is not an absolute http(s) URL (e.g. 'https://orders.example.com/')"
    if parts.username is not None or parts.password is not None:
        return "it holds a user name or password"
    if parts.query or parts.fragment:
        return "it has a query or a fragment"
    origin = _origin(parts)
    if origin is None:
        return "its host or port is not valid"
    if origin.scheme == "http" and not is_loopback(origin.host):
        return "it is http, and tokens are sent over https only (http only to 127.0.0.1, ::1 and localhost)"
    return None


def _origin(parts: SplitResult) -> Origin | None:
    """The canonical origin of a ``urlsplit`` result, or None when it has none a token may go to."""
    try:
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port  # hostname: lower-case, no brackets
    except ValueError:  # a port that is not a number in range
        return None
    if parts.username is not None or parts.password is not None:
        return None
    if scheme not in DEFAULT_PORTS or not host or port == 0:
        return None
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")  # as requests encodes it (prepare_url)
        except idna.IDNAError:
            return None
    return Origin(scheme, host, port if port is not None else DEFAULT_PORTS[scheme])


def shown_origin(url: str) -> str:
    """``url``'s scheme, host and port for a log line: never its user name, password, path or query."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    host = parts.hostname or "?"
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}"


class TokenHosts:
    """Decides whether a request URL may carry the token (see the module docstring). ``base_urls``: where the
    token is meant to go; empty: wherever the auth is used, https (or loopback http) only."""

    __slots__ = ("_by_origin", "_by_prefix", "origins")

    def __init__(self, base_urls: Iterable[str] = (), *, setting: str = "base_url") -> None:
        self.origins = frozenset(check_base_url(url, setting=setting) for url in base_urls)
        # Plain dicts, read and written without a lock (atomic under the GIL): no lock to be left held at a fork.
        self._by_prefix: dict[str, bool] = {}
        self._by_origin: dict[tuple[str, bytes, int | None], bool] = {}

    def allows_url(self, url: str) -> bool:
        """For a full URL as requests prepares it (``PreparedRequest.url``)."""
        end = url.find("/", 8)  # the path's slash: after "https://" and at least one character of host
        prefix = url if end < 0 else url[:end]
        allowed = self._by_prefix.get(prefix)
        if allowed is None:  # parsed properly the first time: a prefix that is no origin is never allowed
            allowed = self._remember(self._by_prefix, prefix, _origin(urlsplit(prefix)) if "://" in prefix else None)
        return allowed

    def allows(self, scheme: str, raw_host: bytes, port: int | None) -> bool:
        """For an origin as httpx gives it (``url.scheme``, ``url.raw_host``: ASCII, IDNA-encoded, no brackets;
        ``url.port``: None for the scheme's default)."""
        key = (scheme, raw_host, port)
        allowed = self._by_origin.get(key)
        if allowed is None:
            origin = None
            host = raw_host.decode("ascii", "replace").lower().rstrip(".")
            if scheme in DEFAULT_PORTS and host:
                origin = Origin(scheme, host, port if port is not None else DEFAULT_PORTS[scheme])
            allowed = self._remember(self._by_origin, key, origin)
        return allowed

    def _remember(self, memory: dict[Any, bool], key: Any, origin: Origin | None) -> bool:
        allowed = origin is not None and self._decide(origin)
        if len(memory) >= _MAX_REMEMBERED:
            memory.clear()
        memory[key] = allowed
        return allowed

    def _decide(self, origin: Origin) -> bool:
        if origin.scheme == "http" and not is_loopback(origin.host):
            return False
        return not self.origins or origin in self.origins

    def __repr__(self) -> str:
        shown = ", ".join(sorted(map(str, self.origins))) or "any https host"
        return f"TokenHosts({shown})"
