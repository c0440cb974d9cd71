"""Limits on every HTTP reply appauth reads: a deadline for the whole reply, and a size cap enforced while
reading. Every session appauth builds (``http_sessions.new_session``) mounts ``LimitedAdapter``; Key Vault's
pipeline gets ``ReplyDeadlinePolicy`` and ``LimitedTransport`` (a session or transport the app passes in is used
as it is). Why, and which deadline applies where: docs/design.md, "Deadlines and size caps".

- ``deadline(seconds)``: every request sent through a ``LimitedAdapter`` in the block, on this thread, ends by
  then, from connecting to the last byte of the body, urllib3's retries below requests included. At the
  deadline a watchdog (one ``threading.Timer`` per request) shuts the request's sockets down, which ends any
  read blocked on them; the request raises ``DeadlineExceededError``, a ``requests.Timeout``, so the caller's
  timeout handling applies. Blocks nest, the earliest deadline wins. Without a block, a request's deadline is
  its connect and read timeouts added up.
- ``LimitedAdapter(max_bytes=...)`` reads the body itself, in pieces, and stops past ``max_bytes``
  (``ReplyTooLargeError``); a Content-Length above it is refused before reading. ``reply_limit(n)`` sets
  another cap for the requests of a block (a federation server's metadata document).
- ``HttpsOnlyAdapter``, mounted on ``http://`` of a session that carries a secret, refuses at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.connection
import urllib3.connectionpool
from azure.core.exceptions import ServiceRequestError, ServiceResponseError, ServiceResponseTimeoutError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import BaseAdapter
from urllib3 import poolmanager

from .http_trust import SharedTrustAdapter

DEFAULT_DEADLINE = 30.0
"""Seconds for the whole of one call that has no deadline setting of its own: a token from Entra ID (the
OpenID configuration and the token request, retries included), integrated Windows authentication (its four
requests), the Key Vault certificate source's read of the vault; and the longest a caller waits for another
caller's fetch of the same token or secret. 30 s is the figure the existing bounds already used: msal's
``HTTP_TIMEOUT_SECONDS`` and Key Vault's operation timeout."""
TOKEN_REPLY_MAX_BYTES = 64 * 1024
"""Token endpoints, managed-identity endpoints, OpenID configurations and user realms: their replies are a few
KiB (the emulator's token replies 1.5 KiB; Entra puts at most 200 groups in a token, then an overage claim)."""
VAULT_REPLY_MAX_BYTES = 1024 * 1024
"""Key Vault: a secret's value is at most 25 KiB (Key Vault's own limit), its reply a few KiB more."""
DOCUMENT_MAX_BYTES = 1024 * 1024
"""A federation server's metadata (MEX) document, tens of KiB for ADFS."""
_PIECE = 16 * 1024  # the body is read in pieces of this size


class DeadlineExceededError(requests.exceptions.ReadTimeout):
    """No complete reply within the deadline; a ``requests.Timeout``, so it is handled as a timeout."""


class ReplyTooLargeError(ValueError):
    """A reply larger than its cap; not a ``requests`` error, so that no layer retries it."""


class PlainHttpRefusedError(requests.RequestException):
    """A request to a plain-http URL on a session that only speaks https: nothing was sent."""


@dataclass(frozen=True)
class _Limits:
    deadline: float | None = None  # time.monotonic() by which every request ends
    seconds: float = 0.0  # the deadline as it was given, for messages
    max_bytes: int | None = None


_limits: ContextVar[_Limits | None] = ContextVar("appauth_http_limits", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every request sent through a ``LimitedAdapter`` in this block ends within ``seconds`` from now, or
    raises ``DeadlineExceededError``. Inside another block, the earlier of the two deadlines applies."""
    current = _limits.get() or _Limits()
    at = time.monotonic() + seconds
    if current.deadline is not None and current.deadline <= at:
        at, seconds = current.deadline, current.seconds
    token = _limits.set(replace(current, deadline=at, seconds=seconds))
    try:
        yield
    finally:
        _limits.reset(token)


@contextmanager
def reply_limit(max_bytes: int) -> Iterator[None]:
    """The requests of this block may read replies of up to ``max_bytes`` instead of their adapter's cap."""
    token = _limits.set(replace(_limits.get() or _Limits(), max_bytes=max_bytes))
    try:
        yield
    finally:
        _limits.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline in force on this thread (0.0 once passed); None outside ``deadline``."""
    limits = _limits.get()
    if limits is None or limits.deadline is None:
        return None
    return max(limits.deadline - time.monotonic(), 0.0)


def describe_size(size: int) -> str:
    """``64 KiB``, ``1 MiB``: a cap as messages name it."""
    return f"{size // 1024 // 1024} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"


# --- the watchdog -----------------------------------------------------------------------------------------------


class _Watch:
    """The connections one request uses (urllib3's retries open more) and their sockets, shut down together at
    its deadline. The sockets are kept apart: a reply that closes the connection (``Connection: close``) takes
    the socket off its connection (``sock`` None) while its body is still being read from it."""

    __slots__ = ("at", "connections", "fired", "sockets", "timer")

    def __init__(self, at: float) -> None:
        self.at = at
        self.connections: list[urllib3.connection.HTTPConnection] = []
        self.sockets: list[socket.socket] = []
        self.fired = False
        self.timer = threading.Timer(max(at - time.monotonic(), 0.0), self._fire)
        self.timer.daemon = True
        # No new thread now (the interpreter is shutting down): the request goes on, its read timeouts shortened.
        with contextlib.suppress(RuntimeError):
            self.timer.start()

    def join(self, connection: urllib3.connection.HTTPConnection) -> None:
        if self.fired or time.monotonic() >= self.at:
            raise TimeoutError("the deadline has passed: no new connection or request")
        if not any(known is connection for known in self.connections):
            self.connections.append(connection)
        self.keep(connection.sock)

    def keep(self, sock: socket.socket | None) -> None:
        if sock is not None and not any(known is sock for known in self.sockets):
            self.sockets.append(sock)

    def stop(self) -> None:
        self.timer.cancel()
        self.connections, self.sockets = [], []

    def _fire(self) -> None:
        self.fired = True
        # A connection's socket while it connects (the TCP socket under a TLS handshake), then those kept.
        for sock in [c.sock for c in list(self.connections)] + list(self.sockets):
            if sock is not None:
                # socket.socket's own shutdown, not SSLSocket's, which would drop its TLS state under a read.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)


_watch: ContextVar[_Watch | None] = ContextVar("appauth_http_watch", default=None)


# urllib3's connections and pools, watched. They keep urllib3's class names, which its error messages show
# ("HTTPSConnectionPool(host=..., port=...): Max retries exceeded").


class _Watched(urllib3.connection.HTTPConnection):
    """Joins the watch of the request it serves before connecting (the TLS handshake too) and before sending,
    and hands it the socket once there is one."""

    def connect(self) -> None:
        _join(self)
        super().connect()
        _join(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _join(self)
        super().request(*args, **kwargs)
        _join(self)  # plain http connects inside the request


class HTTPConnection(_Watched):
    pass


class HTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class HTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = HTTPConnection


class HTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = HTTPSConnection


_WATCHED_POOLS = {"http": HTTPConnectionPool, "https": HTTPSConnectionPool}


def _join(connection: urllib3.connection.HTTPConnection) -> None:
    watch = _watch.get()
    if watch is not None:
        watch.join(connection)


def _watch_pools(manager: Any) -> None:
    """Make ``manager`` (a PoolManager or ProxyManager) open watched connections. A SOCKS manager, which
    has pool classes of its own, is left as it is: its requests keep the size cap and the per-read timeouts."""
    if getattr(manager, "pool_classes_by_scheme", None) is poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _WATCHED_POOLS


# --- the adapters -----------------------------------------------------------------------------------------------


class LimitedAdapter(SharedTrustAdapter):
    """requests' adapter (with the shared TLS trust of ``http_trust``) that ends each request by its deadline
    and reads at most ``max_bytes`` of its reply (see the module docstring). The body is always read before
    ``send`` returns, also for ``stream=True``: appauth never streams, and the deadline must cover the body."""

    def __init__(self, *args: Any, max_bytes: int = TOKEN_REPLY_MAX_BYTES, **kwargs: Any) -> None:
        self.max_bytes = max_bytes
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _watch_pools(manager)
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | Any | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        limits = _limits.get() or _Limits()
        at, seconds = (limits.deadline, limits.seconds) if limits.deadline is not None else _own_deadline(timeout)
        left = at - time.monotonic()
        if left <= 0:
            raise DeadlineExceededError(_late(request, seconds), request=request)
        watch = _Watch(at)
        token = _watch.set(watch)
        try:
            response = super().send(request, True, _shortened(timeout, left), verify, cert, proxies)
            _read_body(response, limits.max_bytes or self.max_bytes)
            if watch.fired:  # a body delimited by the end of the connection looks complete when cut
                raise requests.exceptions.ConnectionError("the reply was cut at the deadline", request=request)
            return response
        except requests.RequestException as exc:
            if watch.fired or time.monotonic() >= at:
                raise DeadlineExceededError(_late(request, seconds), request=request) from exc
            raise
        finally:
            watch.stop()
            _watch.reset(token)


class HttpsOnlyAdapter(BaseAdapter):
    """Mounted on ``http://`` of a session that sends secrets: any request there fails at once, unsent."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        raise PlainHttpRefusedError(
            f"refusing to send a request to {_origin(request.url)} over plain http, where it could be read on the "
            "way: this endpoint must be https",
            request=request,
        )

    def close(self) -> None:
        """Nothing to release."""


def _own_deadline(timeout: Any) -> tuple[float, float]:
    """Outside any ``deadline`` block: the connect and read timeouts added up (DEFAULT_DEADLINE without)."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if not isinstance(connect, (int, float)) or not isinstance(read, (int, float)):
        seconds = DEFAULT_DEADLINE
    else:
        seconds = float(connect) + float(read)
    return time.monotonic() + seconds, seconds


def _shortened(timeout: Any, left: float) -> Any:
    """The per-read timeouts, none longer than what is left (a connect attempt cannot be shut down early)."""
    if isinstance(timeout, tuple):
        connect, read = timeout
    elif timeout is None or isinstance(timeout, (int, float)):
        connect = read = timeout
    else:
        return timeout  # a urllib3 Timeout: kept; the watchdog still ends the request
    return (left if connect is None else min(connect, left), left if read is None else min(read, left))


def _read_body(response: requests.Response, max_bytes: int) -> None:
    """The body, read in pieces and given to ``response`` as if requests had read it; stops past ``max_bytes``."""
    length = response.headers.get("Content-Length", "").strip()
    if length.isdigit() and int(length) > max_bytes:
        response.close()
        raise ReplyTooLargeError(_too_large(response, max_bytes, f"it announces {int(length)} bytes"))
    pieces: list[bytes] = []
    size = 0
    for piece in response.iter_content(_PIECE):
        size += len(piece)
        if size > max_bytes:
            response.close()
            raise ReplyTooLargeError(_too_large(response, max_bytes, "it went on past that"))
        pieces.append(piece)
    response._content = b"".join(pieces)  # what requests' ``content`` holds; iter_content marked it consumed


def _origin(url: str | bytes | None) -> str:
    """Scheme, host and path of a URL, without its query (never a secret, but not needed either)."""
    text = url.decode() if isinstance(url, bytes) else url or ""
    parts = urlsplit(text)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _late(request: requests.PreparedRequest, seconds: float) -> str:
    return f"no complete reply from {_origin(request.url)} within the deadline of {seconds:g} s"


def _too_large(response: requests.Response, max_bytes: int, how: str) -> str:
    return (
        f"the reply from {_origin(response.url)} is larger than {describe_size(max_bytes)} ({how}), far more "
        "than such a reply holds: refusing to read it; the endpoint, or a proxy in front of it, is misbehaving"
    )


# --- azure-core (Key Vault) -------------------------------------------------------------------------------------


class ReplyDeadlinePolicy(HTTPPolicy[Any, Any]):
    """A per-call policy: the whole operation (every retry, its waits and the token request) within
    ``seconds``. Goes first in the pipeline (``per_call_policies``) so that the retry policy runs inside it."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        with deadline(self.seconds):
            try:
                return self.next.send(request)
            except (ServiceRequestError, ServiceResponseError) as exc:
                if remaining() != 0.0:
                    raise
                # Past the deadline the retry policy's last word is a bare "Response timeout": say which.
                seconds = (_limits.get() or _Limits(seconds=self.seconds)).seconds  # an outer deadline may be earlier
                late = (
                    f"no complete reply from {_origin(request.http_request.url)} within the deadline of {seconds:g} s"
                )
                raise ServiceResponseTimeoutError(late, error=exc) from exc


class LimitedTransport(RequestsTransport):  # type: ignore[misc]  # azure-core exports it lazily: Any to mypy
    """azure-core's requests transport whose back-off sleeps end at the deadline; give it a session from
    ``http_sessions.new_session`` so that its requests keep the limits too."""

    def sleep(self, duration: float) -> None:
        left = remaining()
        time.sleep(duration if left is None else min(duration, left))
