"""SharedTrustAdapter: the CA bundle is parsed once for many connections, and TLS is verified exactly as
before (an unknown CA and a wrong host name are still refused)."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
import urllib3.connection

from appauth_core import AzureServiceTokenProvider, KeyVaultSecrets
from appauth_core._internal import http_trust
from appauth_core._internal.http_trust import SharedTrustAdapter
from appauth_core.testing import AzureEmulator
from appauth_core.tokens._cache import TokenCache

from .secrets_support import unique


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def _https_server(ca: trustme.CA, *names: str) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def bundle(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "bundle.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[str]:
    with _https_server(ca, "127.0.0.1") as url:
        yield url


def _session() -> requests.Session:
    session = requests.Session()
    session.mount("https://", SharedTrustAdapter())
    return session


@pytest.fixture
def wraps(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What urllib3 was asked to do for each new TLS connection."""
    seen: list[dict[str, Any]] = []
    real = urllib3.connection.ssl_wrap_socket

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(urllib3.connection, "ssl_wrap_socket", recording)
    return seen


def test_one_parse_for_many_connections(server: str, bundle: Path, wraps: list[dict[str, Any]]) -> None:
    for _ in range(5):  # a new session each time: a new connection each time
        with _session() as session:
            assert session.get(server, verify=str(bundle), timeout=10).text == "hello"
    assert len(wraps) == 5
    shared = http_trust.trust_context(str(bundle))
    assert all(kwargs["ssl_context"] is shared for kwargs in wraps)
    assert all(kwargs["ca_certs"] is None and kwargs["ca_cert_dir"] is None for kwargs in wraps)  # no re-parse


def test_an_unknown_ca_is_still_refused(server: str, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with _session() as session, pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        session.get(server, verify=str(other), timeout=10)


def test_a_wrong_host_name_is_still_refused(ca: trustme.CA, bundle: Path) -> None:
    refused = pytest.raises(requests.exceptions.SSLError, match=r"mismatch|match")
    # A trusted CA, but a certificate for another name.
    with _https_server(ca, "vault.example") as url, _session() as session, refused:
        session.get(url, verify=str(bundle), timeout=10)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_and_client_certificates_keep_urllib3s_own_context(
    server: str, ca: trustme.CA, tmp_path: Path, wraps: list[dict[str, Any]]
) -> None:
    with _session() as session:
        assert session.get(server, verify=False, timeout=10).text == "hello"
    client = ca.issue_cert("client.example")
    pem = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(pem))
    bundle = tmp_path / "b.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with _session() as session:
        assert session.get(server, verify=str(bundle), cert=str(pem), timeout=10).text == "hello"
    assert not any(http_trust._is_shared(kwargs["ssl_context"]) for kwargs in wraps if kwargs.get("ssl_context"))


def test_a_bundle_changed_on_disk_is_parsed_again(
    server: str, bundle: Path, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_trust, "RECHECK_SECONDS", 0.0)  # look at the file every time
    first = http_trust.trust_context(str(bundle))
    assert http_trust.trust_context(str(bundle)) is first
    replacement = bundle.with_suffix(".new")
    shutil.copy(bundle, replacement)
    with replacement.open("a") as extra:
        extra.write(trustme.CA().cert_pem.bytes().decode())
    replacement.replace(bundle)
    assert http_trust.trust_context(str(bundle)) is not first
    monkeypatch.setattr(http_trust, "RECHECK_SECONDS", 60.0)
    current = http_trust.trust_context(str(bundle))
    bundle.write_text(bundle.read_text() + "\n")  # changed again, but looked at less than a minute ago
    assert http_trust.trust_context(str(bundle)) is current
    with _session() as session:
        assert session.get(server, verify=str(bundle), timeout=10).text == "hello"


def test_key_vault_reads_fanning_out_parse_the_bundle_once(
    azure_emulator: AzureEmulator,
    azure_emulator_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    wraps: list[dict[str, Any]],
) -> None:
    names = [unique("trust") for _ in range(12)]
    for name in names:
        azure_emulator.vault.set_secret(name, f"v-{name}")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azure_emulator.ca_bundle_path))
    built: list[str] = []
    real = http_trust.create_urllib3_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append("context")
        return real(*args, **kwargs)

    monkeypatch.setattr(http_trust, "create_urllib3_context", counting)
    monkeypatch.setattr(http_trust, "_contexts", {})
    secrets = KeyVaultSecrets(azure_emulator.vault.url, AzureServiceTokenProvider(cache=TokenCache()))
    try:
        assert secrets.get_many(names) == {name: f"v-{name}" for name in names}
    finally:
        secrets.close()
    assert len(wraps) > 1  # several connections were opened at once ...
    assert built == ["context"]  # ... and the bundle was parsed for one of them only
