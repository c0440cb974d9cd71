"""Service principal with a certificate from a certificate store (``RunAs=App;AppId=...;TenantId=...;
CertificateThumbprint=...|CertificateSubjectName=...;CertificateStoreLocation=CurrentUser|LocalMachine``).

As .NET's ``CertificateHelper``: every matching certificate with a private key is a candidate, newest
``NotBefore`` first, and each is tried until Entra ID accepts one. That is what makes renewal painless: the
new certificate is installed next to the old one and used as soon as it is registered on the app, and the
old one keeps working until then. Unlike .NET, expired and not-yet-valid certificates are skipped (Entra
would refuse them), and "not found" says where we looked and what we passed over.
"""

from __future__ import annotations

from ...errors import AzureServiceTokenProviderError, CertificateStoreError, ConnectionStringError, TokenEndpointError
from ._base import SourceToken, TokenRequest
from ._certificate_store import (
    CertificateStore,
    StoredCertificate,
    StoreSearch,
    describe_skipped,
    normalize_thumbprint,
)
from ._confidential_client import ConfidentialClients, Credential

_THUMBPRINT_DIGITS = 40  # SHA-1, as .NET's X509Certificate2.Thumbprint


def certificate_credential(stored: StoredCertificate) -> Credential:
    """msal's credential for a certificate, keyed by thumbprint so each certificate gets its own msal app."""
    return Credential(
        key=f"cert:{stored.thumbprint}",
        label=f"certificate with thumbprint {stored.thumbprint}",
        value=stored.msal_credential(),
    )


class CertificateSource:
    """Signs in as ``app_id`` with a certificate found by thumbprint (wins when both are given) or subject.

    ``store`` replaces the folder-backed store chosen by ``store_location`` (see ``certificate_store``).
    """

    name = "Service principal (certificate)"

    def __init__(
        self,
        app_id: str,
        tenant_id: str,
        *,
        thumbprint: str | None = None,
        subject_name: str | None = None,
        store_location: str = "CurrentUser",
        store: CertificateStore | None = None,
    ) -> None:
        if not app_id or not tenant_id:
            raise ValueError("CertificateSource needs an app id and a tenant id")
        if not (thumbprint and thumbprint.strip()) and not (subject_name and subject_name.strip()):
            raise ValueError("Must contain at least one of CertificateSubjectName or CertificateThumbprint attributes.")
        if thumbprint and not _is_sha1_hex(normalize_thumbprint(thumbprint)):
            raise ConnectionStringError(  # a ValueError too; from a connection string, an AppAuthError like its kin
                f"CertificateThumbprint {thumbprint!r} is not a SHA-1 thumbprint (40 hexadecimal digits, as the "
                "portal and .NET show it).",
                key="CertificateThumbprint",
            )
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.thumbprint = normalize_thumbprint(thumbprint) if thumbprint else None
        self.subject_name = None if self.thumbprint else (subject_name or "").strip()
        self.store = store or CertificateStore(store_location)
        self.cache_identity = f"app:{app_id}:{tenant_id}:cert:{self.thumbprint or self.subject_name}"
        self._clients = ConfidentialClients(app_id, self.name)

    def __repr__(self) -> str:
        wanted = f"thumbprint={self.thumbprint!r}" if self.thumbprint else f"subject_name={self.subject_name!r}"
        return (
            f"CertificateSource(app_id={self.app_id!r}, tenant_id={self.tenant_id!r}, {wanted}, store={self.store!r})"
        )

    def get_token(self, request: TokenRequest) -> SourceToken:
        tenant = request.tenant_id or self.tenant_id
        search = self._search(request)
        failures: list[str] = []
        for number, stored in enumerate(search.matches, start=1):
            try:
                return self._clients.acquire(request, tenant, certificate_credential(stored))
            except AzureServiceTokenProviderError as exc:
                reason = exc.reason if isinstance(exc, TokenEndpointError) else exc.message
                failures.append(f"Exception for cert #{number} with thumbprint {stored.thumbprint}: {reason}")
                if isinstance(exc, TokenEndpointError) and not exc.credential_rejected:
                    # Entra's answer is not about this certificate (down, throttled, unknown tenant): the next
                    # one would get the same answer, after the same retries.
                    break
        untried = len(search.matches) - len(failures)
        rest = f" ({untried} more not tried: the failure was not about the certificate)" if untried else ""
        raise self._error(
            request,
            tenant,
            f"Tried {len(failures)} certificate(s){rest}. Access token could not be acquired. " + " ".join(failures),
        )

    def _search(self, request: TokenRequest) -> StoreSearch:
        try:
            search = self.store.find(thumbprint=self.thumbprint, subject_name=self.subject_name)
        except CertificateStoreError as exc:
            raise self._error(request, request.tenant_id or self.tenant_id, str(exc)) from None
        if not search.matches:
            raise self._error(request, request.tenant_id or self.tenant_id, self._not_found(search))
        return search

    def _not_found(self, search: StoreSearch) -> str:
        wanted = f"thumbprint {self.thumbprint}" if self.thumbprint else f"subject name '{self.subject_name}'"
        where = f"Looked in {self.store.describe()}: {search.files_read} certificate file(s)"
        passed_over = f"; passed over: {describe_skipped(search.skipped)}" if search.skipped else ""
        return (
            f"Specified certificate was not found. No usable certificate with {wanted} and a private key. "
            f"{where}{passed_over}. Put the certificate with its private key there as <THUMBPRINT>.pfx or .pem."
        )

    def _error(self, request: TokenRequest, tenant: str, reason: str) -> AzureServiceTokenProviderError:
        return AzureServiceTokenProviderError(
            f"Tried to get token using {self.name}. {reason}",
            resource=request.resource,
            authority=f"{request.authority_host}{tenant}",
            method=self.name,
        )


def _is_sha1_hex(value: str) -> bool:
    return len(value) == _THUMBPRINT_DIGITS and all(c in "0123456789ABCDEF" for c in value)
