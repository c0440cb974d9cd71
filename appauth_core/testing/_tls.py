"""A certificate authority made at start, and the server certificate every HTTPS stand-in presents.

Clients must verify TLS exactly as in production (msal, Key Vault and Storage refuse plain http for
tokens), so the emulator never asks anyone to turn verification off: it writes its CA to disk and a
bundle of "the trust this process already had + our CA" for ``REQUESTS_CA_BUNDLE``. With ``reuse`` the CA
(certificate and key) is kept in the directory and read back by the next emulator, so a process that trusts
the bundle keeps trusting the emulator across restarts; the server certificate is issued anew each time.
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

from ._saved_state import write_private

SERVER_NAMES = ("127.0.0.1", "localhost", "::1", "*.localhost")


# Our CA follows this line in a bundle we wrote. What comes before it is the trust we started from: an emulator
# started where REQUESTS_CA_BUNDLE already names an earlier emulator's bundle must not nest CAs in it.
BUNDLE_MARKER = b"# --- appauth local Azure emulator CA (everything above: the trust it started from) ---"


class EmulatorTLS:
    """Files and contexts for the stand-ins' HTTPS; everything lives under ``directory``. ``reuse``: keep
    the CA's key there and use the CA an earlier emulator saved in ``directory``, if any."""

    def __init__(self, directory: Path, *, reuse: bool = False) -> None:
        self.ca_path = directory / "emulator-ca.pem"
        self.ca_key_path = directory / "emulator-ca-key.pem"
        self.cert_path = directory / "server-cert.pem"
        self.key_path = directory / "server-key.pem"
        self.bundle_path = directory / "ca-bundle.pem"
        self._ca = self._saved_ca() if reuse else None
        if self._ca is None:
            self._ca = trustme.CA(organization_name="appauth local Azure emulator")
            self._ca.cert_pem.write_to_path(str(self.ca_path))
            if reuse:
                write_private(self.ca_key_path, self._ca.private_key_pem.bytes())
        self._server = self._ca.issue_cert(*SERVER_NAMES)
        self._server.cert_chain_pems[0].write_to_path(str(self.cert_path))
        write_private(self.key_path, self._server.private_key_pem.bytes())
        bundle = _existing_trust().rstrip(b"\n") + b"\n" + BUNDLE_MARKER + b"\n" + self._ca.cert_pem.bytes()
        partial = self.bundle_path.with_name(self.bundle_path.name + ".partial")
        partial.write_bytes(bundle)
        partial.replace(self.bundle_path)  # a process reading the bundle now never sees half of it

    def _saved_ca(self) -> trustme.CA | None:
        if not (self.ca_path.is_file() and self.ca_key_path.is_file()):
            return None
        return trustme.CA.from_pem(self.ca_path.read_bytes(), self.ca_key_path.read_bytes())

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
    """The CA file this process trusts today, so adding ours does not take anything away; from a bundle an
    emulator wrote, only the part it started from (a gone emulator's bundle is skipped: it no longer exists)."""
    for variable in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        candidate = os.environ.get(variable)
        if candidate and os.path.isfile(candidate):
            return Path(candidate).read_bytes().partition(BUNDLE_MARKER)[0]
    return Path(certifi.where()).read_bytes()
