"""A certificate authority made at start, and the server certificate every HTTPS stand-in presents.

Clients must verify TLS exactly as in production (msal, Key Vault and Storage refuse plain http for
tokens), so the emulator never asks anyone to turn verification off: it writes its CA to disk and a
bundle of "the trust this process already had + our CA" for ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from pathlib import Path

import certifi
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

SERVER_NAMES = ("127.0.0.1", "localhost", "::1", "*.localhost")


class EmulatorTLS:
    """Files and contexts for the stand-ins' HTTPS; everything lives under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._ca = trustme.CA(organization_name="appauth local Azure emulator")
        self._server = self._ca.issue_cert(*SERVER_NAMES)
        self.ca_path = directory / "emulator-ca.pem"
        self.cert_path = directory / "server-cert.pem"
        self.key_path = directory / "server-key.pem"
        self.bundle_path = directory / "ca-bundle.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))
        self._server.cert_chain_pems[0].write_to_path(str(self.cert_path))
        self._server.private_key_pem.write_to_path(str(self.key_path))
        os.chmod(self.key_path, 0o600)
        self.bundle_path.write_bytes(_existing_trust() + b"\n" + self._ca.cert_pem.bytes())

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server.configure_cert(context)
        return context

    @property
    def server_thumbprint_sha1(self) -> str:
        """Hex SHA-1 of the server certificate's DER: what Service Fabric puts in IDENTITY_SERVER_THUMBPRINT."""
        der = x509.load_pem_x509_certificate(self._server.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
        return hashlib.sha1(der).hexdigest()  # noqa: S324 - the protocol defines SHA-1 thumbprints


def _existing_trust() -> bytes:
    """The CA file this process trusts today, so adding ours does not take anything away."""
    for variable in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        candidate = os.environ.get(variable)
        if candidate and os.path.isfile(candidate):
            return Path(candidate).read_bytes()
    return Path(certifi.where()).read_bytes()
