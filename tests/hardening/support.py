"""Helpers for the hardening suites: running a call with a hang guard, closed ports, and foreign listeners that
record every connection made to them (the SSRF tests' witnesses)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def closed_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on (bound, then released: connecting is refused)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@dataclass
class Outcome:
    """What one bounded call did: its value or the exception it raised, and how long it took."""

    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0
    finished: bool = True


def bounded(call: Callable[[], Any], limit: float) -> Outcome:
    """Run ``call`` on a daemon thread and wait at most ``limit`` seconds: a hang becomes an unfinished
    outcome (the test fails) instead of a test run that never ends."""
    outcome = Outcome(finished=False)
    started = time.monotonic()

    def run() -> None:
        try:
            outcome.value = call()
        except BaseException as exc:  # the test judges whatever came out
            outcome.error = exc
        outcome.seconds = time.monotonic() - started
        outcome.finished = True

    thread = threading.Thread(target=run, name="bounded-call", daemon=True)
    thread.start()
    thread.join(limit)
    if not outcome.finished:
        outcome.seconds = time.monotonic() - started
    return outcome


@dataclass
class Received:
    """One connection a foreign listener accepted, and the bytes it read (the request, if plain HTTP)."""

    data: bytes = b""

    @property
    def text(self) -> str:
        return self.data.decode("latin-1")

    def header(self, name: str) -> str | None:
        for line in self.text.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass
class ForeignListener:
    """A server on a loopback port that is not the app's: it records every connection and request, and
    answers each request with ``reply`` (default: a ``status`` redirect to ``redirect_to``, else a 200 with a
    token-shaped body that would be accepted if anybody trusted it). ``tls`` makes it speak HTTPS with the given
    context."""

    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    redirect_to: str | None = None
    status: int = 302
    reply: bytes | None = None  # the whole answer, verbatim, instead of the above
    connections: list[Received] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stopping: bool = False

    def start(self) -> ForeignListener:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(16)
        sock.settimeout(0.1)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name=f"foreign-{self.port}", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.netloc}/"

    @property
    def requests(self) -> list[Received]:
        """Connections that carried at least one byte (a TLS handshake counts: something was sent)."""
        return [c for c in self.connections if c.data]

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> ForeignListener:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            received = Received()
            self.connections.append(received)
            threading.Thread(target=self._handle, args=(conn, received), daemon=True).start()

    def _handle(self, conn: socket.socket, received: Received) -> None:
        try:
            conn.settimeout(2)
            if self.tls is not None:
                try:
                    raw = conn
                    conn = self.tls.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError):
                    received.data = received.data or b"<tls handshake>"
                    return
                received.data = b"<tls handshake>"
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = Received(head).header("Content-Length")
            while length and length.isdigit() and len(body) < int(length):  # the body too: a form, a secret
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            data = head + b"\r\n\r\n" + body if data else data
            received.data = data or received.data
            if data:
                conn.sendall(self._reply())
        except OSError:
            pass
        finally:
            conn.close()

    def _reply(self) -> bytes:
        if self.reply is not None:
            return self.reply
        if self.redirect_to is not None:
            head = f"HTTP/1.1 {self.status} Found\r\nLocation: {self.redirect_to}\r\n"
            body = b""
        else:
            head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            body = b'{"access_token":"eyJforeign.listener.token","expires_in":3600,"token_type":"Bearer"}'
        return (head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
