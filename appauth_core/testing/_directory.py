"""Who exists in the emulated cloud: tenants, app registrations (secrets, certificates, federated
credentials) and managed identities. Plain data; the HTTP stand-ins read it."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
import uuid
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def new_guid() -> str:
    return str(uuid.uuid4())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def self_signed(
    key: rsa.RSAPrivateKey, common_name: str, *, backdate: dt.timedelta, lifetime: dt.timedelta
) -> x509.Certificate:
    """A self-signed certificate for ``key``: client certificates and the emulator's own signing keys."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(now + lifetime)
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class ClientCertificate:
    """A certificate an app signs client assertions with; the key stays with the test that made it."""

    certificate: x509.Certificate = field(repr=False)
    private_key_pem: bytes = field(repr=False)

    @classmethod
    def generate(cls, common_name: str = "appauth-emulator-client") -> ClientCertificate:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = self_signed(key, common_name, backdate=dt.timedelta(minutes=5), lifetime=dt.timedelta(days=30))
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cls(cert, pem)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def pem_bundle(self) -> bytes:
        """Key and certificate in one PEM, the form azure-identity's CertificateCredential reads."""
        return self.private_key_pem + self.certificate_pem

    @property
    def thumbprint_sha1(self) -> str:
        """Upper-case hex, as the Azure portal shows it and msal's ``thumbprint`` takes it."""
        return self.certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - protocol-defined

    @property
    def x5t(self) -> str:
        return b64url(self.certificate.fingerprint(hashes.SHA1()))  # noqa: S303 - protocol-defined

    @property
    def x5t_s256(self) -> str:
        return b64url(self.certificate.fingerprint(hashes.SHA256()))


@dataclass(frozen=True)
class FederatedCredential:
    """Trust tokens from ``issuer`` for ``subject`` (AKS workload identity, GitHub OIDC ...)."""

    issuer: str
    subject: str
    audience: str = "api://AzureADTokenExchange"


@dataclass
class AppRegistration:
    app_id: str
    tenant_id: str
    object_id: str  # the service principal's object id: the token's oid
    display_name: str
    secrets: list[str] = field(default_factory=list, repr=False)
    certificates: list[x509.Certificate] = field(default_factory=list, repr=False)
    federated_credentials: list[FederatedCredential] = field(default_factory=list)

    def secret_matches(self, presented: str) -> bool:
        return any(secrets.compare_digest(presented.encode(), s.encode()) for s in self.secrets)

    def certificate_for(self, *, x5t: str | None = None, x5t_s256: str | None = None) -> x509.Certificate | None:
        # msal keeps the base64 padding on x5t ("...=") and Entra accepts it, so compare without it.
        x5t, x5t_s256 = (x5t or "").rstrip("="), (x5t_s256 or "").rstrip("=")
        for cert in self.certificates:
            if x5t and b64url(cert.fingerprint(hashes.SHA1())) == x5t:  # noqa: S303
                return cert
            if x5t_s256 and b64url(cert.fingerprint(hashes.SHA256())) == x5t_s256:
                return cert
        return None


@dataclass(frozen=True)
class ManagedIdentity:
    """A system-assigned (one per emulated host) or user-assigned identity."""

    client_id: str
    object_id: str
    resource_id: str
    tenant_id: str
    system_assigned: bool = False

    def matches(self, *, client_id: str | None, object_id: str | None, resource_id: str | None) -> bool:
        if client_id:
            return client_id.lower() == self.client_id.lower()
        if object_id:
            return object_id.lower() == self.object_id.lower()
        if resource_id:
            return resource_id.lower() == self.resource_id.lower()
        return self.system_assigned


@dataclass
class Tenant:
    tenant_id: str
    domain: str


def _resource_id(subscription: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourcegroups/appauth-emulator/providers/"
        f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
    )


class Directory:
    """Tenants, apps and identities; safe to change while the stand-ins serve requests."""

    def __init__(self, tenant_id: str | None = None) -> None:
        self._lock = threading.Lock()
        self.subscription_id = new_guid()
        home = Tenant(tenant_id or new_guid(), "appauthemulator.onmicrosoft.com")
        self.home_tenant = home
        self.tenants: dict[str, Tenant] = {home.tenant_id: home}
        self.apps: dict[str, AppRegistration] = {}
        self.identities: list[ManagedIdentity] = [
            ManagedIdentity(
                new_guid(),
                new_guid(),
                f"/subscriptions/{self.subscription_id}/resourcegroups/appauth-emulator/providers/"
                "Microsoft.Web/sites/appauth-emulator-host",
                home.tenant_id,
                system_assigned=True,
            )
        ]

    def add_tenant(self, tenant_id: str | None = None, domain: str | None = None) -> Tenant:
        tenant = Tenant(tenant_id or new_guid(), domain or f"tenant{len(self.tenants)}.onmicrosoft.com")
        with self._lock:
            self.tenants[tenant.tenant_id] = tenant
        return tenant

    def find_tenant(self, name: str) -> Tenant | None:
        """By GUID or by verified domain, as Entra accepts both in an authority URL."""
        key = name.lower()
        with self._lock:
            for tenant in self.tenants.values():
                if key in (tenant.tenant_id.lower(), tenant.domain.lower()):
                    return tenant
        return None

    def register_app(
        self,
        *,
        app_id: str | None = None,
        tenant_id: str | None = None,
        secret: str | None = None,
        certificates: list[x509.Certificate] | None = None,
        federated_credentials: list[FederatedCredential] | None = None,
        display_name: str = "appauth-emulator-app",
    ) -> AppRegistration:
        app = AppRegistration(
            app_id=app_id or new_guid(),
            tenant_id=tenant_id or self.home_tenant.tenant_id,
            object_id=new_guid(),
            display_name=display_name,
            secrets=[secret] if secret else [],
            certificates=list(certificates or []),
            federated_credentials=list(federated_credentials or []),
        )
        with self._lock:
            self.apps[app.app_id.lower()] = app
        return app

    def find_app(self, app_id: str) -> AppRegistration | None:
        with self._lock:
            return self.apps.get(app_id.lower())

    def add_user_assigned_identity(self, name: str = "appauth-emulator-identity") -> ManagedIdentity:
        identity = ManagedIdentity(
            new_guid(), new_guid(), _resource_id(self.subscription_id, name), self.home_tenant.tenant_id
        )
        with self._lock:
            self.identities.append(identity)
        return identity

    @property
    def system_identity(self) -> ManagedIdentity:
        return self.identities[0]

    def find_identity(
        self, *, client_id: str | None = None, object_id: str | None = None, resource_id: str | None = None
    ) -> ManagedIdentity | None:
        with self._lock:
            for identity in self.identities:
                if identity.matches(client_id=client_id, object_id=object_id, resource_id=resource_id):
                    return identity
        return None
