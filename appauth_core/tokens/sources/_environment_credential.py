"""The service principal azure-identity's ``EnvironmentCredential`` variables name (``_environment`` reads
them): the client-secret source, and a certificate read from ``AZURE_CLIENT_CERTIFICATE_PATH``, both signing
in through msal (``confidential_client``) at ``AZURE_AUTHORITY_HOST`` when it is set.

``AZURE_AUTHORITY_HOST`` wins over the provider's authority host, as it does for workload identity (the same
variable, set for the cloud the app runs in). Hints for Entra's refusals name the variables, not the
connection string's keys (``SETTING_NAMES``). The cache identity holds whatever selects whose token it is:
the client ID, the tenant, the authority host, and the secret's fingerprint or the certificate file's path
and its password's fingerprint (never a secret).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from ..._internal import fork_safety
from .._token_claims import fingerprint
from ._base import SourceToken, TokenRequest, TokenSource
from ._certificate import certificate_credential
from ._certificate_store import CertificateLoadError, StoredCertificate, load_pem, load_pkcs12
from ._client_secret import ClientSecretSource
from ._confidential_client import ConfidentialClients, Credential
from ._environment_variables import (
    CERTIFICATE_PASSWORD,
    CERTIFICATE_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    METHOD,
    SETTING_NAMES,
    TENANT_ID,
)


def from_environment(environ: Mapping[str, str], credential: str, authority_host: str | None) -> TokenSource:
    """The source for a complete set of variables; ``credential`` is the one that wins (the secret, else the
    certificate file)."""
    client_id, tenant_id = environ[CLIENT_ID].strip(), environ[TENANT_ID].strip()
    if credential == CLIENT_SECRET:
        return EnvironmentSecretSource(client_id, tenant_id, environ[CLIENT_SECRET], authority_host=authority_host)
    return EnvironmentCertificateSource(
        client_id,
        tenant_id,
        environ[CERTIFICATE_PATH].strip(),
        password=environ.get(CERTIFICATE_PASSWORD) or None,
        authority_host=authority_host,
    )


def _authority(authority_host: str | None) -> str:
    return f";authority={authority_host or 'of the request'}"


class EnvironmentSecretSource(ClientSecretSource):
    """``AZURE_CLIENT_ID`` signing in to ``AZURE_TENANT_ID`` with ``AZURE_CLIENT_SECRET``: the client-secret
    source, at ``authority_host`` when given, with hints that name the variables."""

    name = f"{METHOD} ({CLIENT_SECRET})"

    def __init__(self, app_id: str, tenant_id: str, secret: str, *, authority_host: str | None = None) -> None:
        super().__init__(app_id, tenant_id, secret)
        self.authority_host = authority_host
        self.cache_identity = f"environment:{self.cache_identity}{_authority(authority_host)}"
        self._clients = ConfidentialClients(app_id, self.name, setting_names=SETTING_NAMES)

    def __repr__(self) -> str:
        return f"EnvironmentSecretSource(app_id={self.app_id!r}, tenant_id={self.tenant_id!r})"

    def get_token(self, request: TokenRequest) -> SourceToken:
        if self.authority_host:
            request = replace(request, authority_host=self.authority_host)
        return super().get_token(request)


class EnvironmentCertificateSource:
    """``AZURE_CLIENT_ID`` signing in to ``AZURE_TENANT_ID`` with the certificate and private key in the PEM or
    PKCS#12 (PFX) file at ``path``, opened with ``password`` when given. The file is read on the first call and
    again whenever it changes on disk (inode, size or modification time), so a renewed certificate is used
    without a restart."""

    name = f"{METHOD} ({CERTIFICATE_PATH})"

    def __init__(
        self,
        app_id: str,
        tenant_id: str,
        path: str | os.PathLike[str],
        *,
        password: str | None = None,
        authority_host: str | None = None,
    ) -> None:
        if not app_id or not tenant_id or not str(path):
            raise ValueError("EnvironmentCertificateSource needs an app id, a tenant id and a certificate file")
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.path = Path(path)
        self.authority_host = authority_host
        self._password = password
        locked = f":password={fingerprint(password)}" if password else ""
        certificate = f"cert-file:{os.path.abspath(path)}{locked}"
        self.cache_identity = f"environment:app:{app_id}:{tenant_id}:{certificate}{_authority(authority_host)}"
        self._clients = ConfidentialClients(app_id, self.name, setting_names=SETTING_NAMES)
        self._loaded: tuple[tuple[int, int, int], Credential] | None = None
        self._lock = threading.Lock()
        fork_safety.new_lock_in_child(self)

    def __repr__(self) -> str:
        return (
            f"EnvironmentCertificateSource(app_id={self.app_id!r}, tenant_id={self.tenant_id!r}, "
            f"path={str(self.path)!r})"
        )

    def get_token(self, request: TokenRequest) -> SourceToken:
        if self.authority_host:
            request = replace(request, authority_host=self.authority_host)
        tenant = request.tenant_id or self.tenant_id
        return self._clients.acquire(request, tenant, self._credential(request, tenant))

    def _credential(self, request: TokenRequest, tenant: str) -> Credential:
        """msal's credential for the certificate in the file as it is now (read again only when it changed)."""
        try:
            info = os.stat(self.path)
        except OSError as exc:
            raise self._unusable(request, tenant, f"it cannot be read ({exc.strerror or type(exc).__name__})") from None
        version = (info.st_ino, info.st_size, info.st_mtime_ns)
        with self._lock:
            if self._loaded is not None and self._loaded[0] == version:
                return self._loaded[1]
            stored = self._read(request, tenant)
            problem = stored.validity_problem()
            if problem is not None:
                raise self._unusable(request, tenant, f"its certificate {stored.thumbprint} is not usable: {problem}")
            credential = certificate_credential(stored)
            if self._loaded is not None and self._loaded[1].key != credential.key:
                self._clients.forget(self._loaded[1].key)  # the renewed certificate's msal app replaces the old one
            self._loaded = (version, credential)
            return credential

    def _read(self, request: TokenRequest, tenant: str) -> StoredCertificate:
        """The certificate with its key: PEM when the file has PEM blocks, else PKCS#12 (azure-identity's test)."""
        try:
            data = self.path.read_bytes()
            if b"-----BEGIN" in data:
                return load_pem(data, str(self.path), self._password_bytes(), password_variable=CERTIFICATE_PASSWORD)
            passwords = (self._password_bytes(),) if self._password else (None, b"")
            return load_pkcs12(data, str(self.path), passwords, password_variable=CERTIFICATE_PASSWORD)
        except OSError as exc:
            raise self._unusable(request, tenant, f"it cannot be read ({exc.strerror or type(exc).__name__})") from None
        except (CertificateLoadError, ValueError) as exc:  # ValueError: a PEM certificate block that is not one
            reason = str(exc) if isinstance(exc, CertificateLoadError) else "a certificate in it cannot be read"
            raise self._unusable(request, tenant, f"it is not a certificate with its private key ({reason})") from None

    def _password_bytes(self) -> bytes | None:
        return self._password.encode() if self._password else None

    def _unusable(self, request: TokenRequest, tenant: str, problem: str) -> Exception:
        return self._clients.error(
            request,
            f"{request.authority_host}{tenant}",
            f"The certificate file {self.path} ({CERTIFICATE_PATH}): {problem}. Point {CERTIFICATE_PATH} at a PEM "
            f"file with the private key and its certificate, or a PFX file (its password in {CERTIFICATE_PASSWORD}).",
        )
