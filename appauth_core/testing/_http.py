"""A small threaded HTTP(S) server for the stand-ins.

Hand-written on :mod:`http.server` on purpose: the stand-ins run inside users' test processes with no
dependency beyond trustme, listen on several loopback ports at once (one per vault, one per host type
that needs its own scheme), and must control every byte of a reply (header casing, a body cut short
under its Content-Length) for fault injection. A WSGI framework would hide exactly those wire details.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._faults import Fault, FaultInjector, RequestCounter

logger = logging.getLogger("appauth_core.testing")

LOOPBACK = "127.0.0.1"
GARBAGE_BODY = b"\x00\xff<html><body>502 Bad Gateway</body>"
PAD_PIECE = b" " * 65536  # the padding of a ``pad`` fault goes out in pieces of this size


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    host: str  # the Host header, as the client addressed us

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False
    drip: float = 0.0  # seconds between the bytes of the whole reply (a ``drip`` fault)
    drip_body: bool = False  # only the body trickles, the status line and headers go at once
    pad: int = 0  # bytes of whitespace after the body, sent chunked (a ``pad`` fault)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, body, merged)


Handler = Callable[[Request], Response]
Router = Callable[[Request], tuple[str, Handler]]
"""Maps a request to (endpoint name for faults and counters, the handler that answers it)."""


def _apply_fault(fault: Fault, request: Request, handler: Handler) -> Response:
    if fault.delay:
        time.sleep(fault.delay)
    if fault.status is None:
        response = handler(request)
    elif isinstance(fault.body, (dict, list)):
        response = Response.json(fault.status, fault.body)
    else:
        body = fault.body.encode() if isinstance(fault.body, str) else (fault.body or b"")
        response = Response(fault.status, body)
    response.headers.update(fault.headers)
    if fault.garbage:
        response.body = GARBAGE_BODY
        response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.truncate = fault.truncate
    response.drip, response.drip_body, response.pad = fault.drip, fault.drip_body, fault.pad
    return response


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections end instead of pinning a thread forever
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK
    # (~40 ms per request on a kept-alive connection).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.server.name, format % args)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            body=self._read_body(),
            host=headers.get("host", f"{LOOPBACK}:{self.server.server_port}"),
        )
        endpoint, handler = self.server.router(request)
        self.server.counters.add(endpoint)
        fault = self.server.faults.take(endpoint)
        try:
            response = _apply_fault(fault, request, handler) if fault else handler(request)
        except Exception:
            logger.exception("stand-in %s failed on %s %s", endpoint, request.method, request.path)
            response = Response.json(500, {"error": {"code": "InternalError", "message": "stand-in bug"}})
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.drip:
            self._send_dripping(response)
            return
        if response.pad:
            self._send_padded(response)
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.truncate:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _send_dripping(self, response: Response) -> None:
        """The whole reply (or only its body), one byte at a time, until it is out or the client went away."""
        self.close_connection = True
        head = [f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}"]
        head += [f"{name}: {value}" for name, value in response.headers.items()]
        head += [f"Content-Length: {len(response.body)}", "Connection: close"]
        head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        data = response.body if response.drip_body else head_bytes + response.body
        try:
            if response.drip_body:
                self.wfile.write(head_bytes)
            for index in range(len(data)):
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
                time.sleep(response.drip)
        except OSError:  # the client gave up: what the fault is there to make it do
            return

    def _send_padded(self, response: Response) -> None:
        """The body and then ``pad`` bytes of whitespace, chunked, until it is out or the client went away."""
        self.close_connection = True
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        try:
            self.end_headers()
            self._write_chunk(response.body)
            left = response.pad
            while left > 0:
                piece = PAD_PIECE if left >= len(PAD_PIECE) else PAD_PIECE[:left]
                self._write_chunk(piece)
                left -= len(piece)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            return

    def _write_chunk(self, data: bytes) -> None:
        if data:  # three writes: joining them would copy every piece of a 64 MiB padding
            self.wfile.write(f"{len(data):x}\r\n".encode())
            self.wfile.write(data)
            self.wfile.write(b"\r\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's default of 5 drops a herd of 50 concurrent clients into retries

    def __init__(
        self,
        name: str,
        router: Router,
        faults: FaultInjector,
        counters: RequestCounter,
        ssl_context: ssl.SSLContext | None,
        port: int,
    ) -> None:
        self.name = name
        self.router = router
        self.faults = faults
        self.counters = counters
        self.ssl_context = ssl_context
        super().__init__((LOOPBACK, port), _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, on the connection's own thread, so one slow or broken client
        # cannot stall the accept loop for everyone else.
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.debug("%s: TLS handshake failed: %s", self.name, exc)
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            # wrap_socket detached the plain socket that socketserver will close, so close this one.
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLError) and not isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            # A TLS record that does not decrypt (two processes writing on one inherited connection): counted
            # apart from requests, as ``tls_errors.<listener>``, so a test can insist there were none. A client
            # that just went away (EOF) is not such an error.
            self.counters.add(f"tls_errors.{self.name}")
        logger.debug("%s: connection from %s ended with an error", self.name, client_address, exc_info=True)


class Listener:
    """One loopback port serving one stand-in, in a background thread."""

    def __init__(
        self,
        name: str,
        router: Router,
        faults: FaultInjector,
        counters: RequestCounter,
        *,
        ssl_context: ssl.SSLContext | None = None,
        port: int = 0,
    ) -> None:
        self._server = _Server(name, router, faults, counters, ssl_context, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"appauth-{name}",
            daemon=True,
        )
        self.scheme = "https" if ssl_context else "http"

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        """Base URL with a trailing slash."""
        return f"{self.scheme}://{LOOPBACK}:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
