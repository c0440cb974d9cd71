"""Shared by the outbound-auth tests (RequestsTokenAuth, HttpxTokenAuth, DownstreamApi): real loopback HTTP(S)
APIs that record what they were sent, a protected API that checks the emulator's tokens as a real one would
(signature by the published key, audience, revoked tokens, a Conditional Access authentication context asked
for with a claims challenge), and providers on caches of their own."""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from appauth_core import AzureServiceTokenProvider
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache

Reply = tuple[int, dict[str, str], bytes]

# What a resource asks for when it wants the Conditional Access authentication context "c1" (decoded).
CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
ENCODED_CLAIMS = base64.urlsafe_b64encode(CLAIMS.encode()).decode().rstrip("=")
CLAIMS_CHALLENGE = (
    f'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    f'error="insufficient_claims", claims="{ENCODED_CLAIMS}"'
)


@dataclass
class Seen:
    """One request as the API received it."""

    method: str
    path: str
    authorization: str | None
    body: bytes
    client_port: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str | None:
        return self.authorization[7:] if self.authorization and self.authorization.startswith("Bearer ") else None


def ok(seen: Seen) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps({"path": seen.path}).encode()


class ApiServer:
    """A threading HTTP/1.1 server on a loopback address (keep-alive, bodies by length or chunked) that records
    every request in ``seen`` and answers with ``respond(seen)`` (None: hangs up without an answer). ``tls``: an
    SSL context to serve HTTPS with (the emulator's, trusted through ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``).
    ``host``: what ``url`` names (``127.0.0.1`` or ``localhost``, both bound to 127.0.0.1)."""

    def __init__(
        self,
        respond: Callable[[Seen], Reply | None] = ok,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.respond = respond
        self.seen: list[Seen] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                seen = Seen(
                    self.command,
                    self.path,
                    self.headers.get("Authorization"),
                    self._body(),
                    self.client_address[1],
                    dict(self.headers.items()),
                )
                server.seen.append(seen)
                reply = server.respond(seen)
                if reply is None:  # hang up without answering
                    self.close_connection = True
                    return
                status, headers, body = reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            return b"".join(chunks)
                        chunks.append(chunk)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.origin = f"{'https' if tls else 'http'}://{host}:{self._server.server_address[1]}"
        self.url = self.origin + "/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-api", daemon=True)

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def redirect_to(location: str, status: int = 302) -> Callable[[Seen], Reply]:
    return lambda seen: (status, {"Location": location}, b"")


class ProtectedApi:
    """``respond`` for an API that accepts the emulator's tokens for ``audience``: signature by a published key,
    audience, not ``revoked``; when ``required_context`` is set, a token without that ``acrs`` is answered with
    a claims challenge for it (how a resource asks for a Conditional Access authentication context). 401s carry
    ``WWW-Authenticate`` as Entra-protected APIs send it."""

    def __init__(self, emulator: AzureEmulator, audience: str) -> None:
        self.emulator = emulator
        self.audience = audience
        self.revoked: set[str] = set()
        self.required_context: str | None = None
        self.challenges = 0

    def __call__(self, seen: Seen) -> Reply:
        token = seen.token
        if token is None:
            return _unauthorized('Bearer realm=""')
        try:
            claims = self.emulator.issuer.verify(token)
        except Exception:
            return _unauthorized('Bearer error="invalid_token"')
        if claims.get("aud") != self.audience or token in self.revoked:
            return _unauthorized('Bearer error="invalid_token"')
        if self.required_context and self.required_context not in claims.get("acrs", []):
            self.challenges += 1
            return _unauthorized(CLAIMS_CHALLENGE)
        body = {"appid": claims.get("appid"), "acrs": claims.get("acrs", []), "body": seen.body.decode()}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _unauthorized(challenge: str) -> Reply:
    return 401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, b'{"error":"unauthorized"}'


def orders_api(emulator: AzureEmulator) -> str:
    """A new registered API's App ID URI (its own, so cached tokens stay with one test)."""
    return emulator.register_api(f"api://orders-{uuid.uuid4().hex[:8]}").app_id_uri


def secret_provider(emulator: AzureEmulator) -> AzureServiceTokenProvider:
    """The emulator's service principal (client secret, through msal), on a cache of its own."""
    app = emulator.app
    connection_string = f"RunAs=App;AppId={app.app_id};TenantId={emulator.tenant_id};AppKey={app.secrets[0]}"
    return AzureServiceTokenProvider(connection_string, emulator.authority, cache=TokenCache())


def chunks(*parts: bytes) -> Any:
    """A request body that can be read once (requests and httpx send it chunked)."""
    yield from parts


# --- fixtures, imported by the test modules that use them ---------------------------------------------------


@pytest.fixture
def emulator(azure_emulator: AzureEmulator, azure_emulator_env: dict[str, str]) -> AzureEmulator:
    """The emulator, with this process trusting its CA (``REQUESTS_CA_BUNDLE`` for requests, ``SSL_CERT_FILE``
    for httpx) and pointed at its App Service managed identity (the default provider's)."""
    return azure_emulator


@pytest.fixture
def resource(emulator: AzureEmulator) -> str:
    return orders_api(emulator)


@pytest.fixture
def provider(emulator: AzureEmulator) -> AzureServiceTokenProvider:
    return secret_provider(emulator)


@pytest.fixture
def api(emulator: AzureEmulator, resource: str) -> ProtectedApi:
    return ProtectedApi(emulator, resource)


@pytest.fixture
def server(emulator: AzureEmulator, api: ProtectedApi) -> Iterator[ApiServer]:
    """The protected API on HTTPS (the emulator's certificate: 127.0.0.1, localhost, ::1)."""
    with ApiServer(api, tls=emulator.tls.server_context()) as running:
        yield running


def tokens(emulator: AzureEmulator) -> int:
    """Token requests Entra ID (the emulator) has answered in this test."""
    return emulator.counters["entra.token"]
