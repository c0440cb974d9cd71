"""Who exists in the emulated cloud: tenants, app registrations (secrets, certificates, federated
credentials), the APIs apps expose (App ID URI, app roles, accepted token version) with their role
assignments, and managed identities. Plain data; the HTTP stand-ins read it."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

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


Principal = AppRegistration | ManagedIdentity
"""Who can hold an app role: a service principal or a managed identity (by its object id)."""


@dataclass(frozen=True)
class ApiRegistration:
    """An app registration that exposes an API: its App ID URI (``identifierUris``), its app roles and the
    version of the access tokens it accepts (``accessTokenAcceptedVersion``: 1, what Entra's default null
    means, or 2). Tokens for it have ``aud`` = the resource as asked (App ID URI or client id) when v1, and
    the client id when v2. ``multi_tenant``: its service principal exists in every tenant, as after admin
    consent in each; otherwise only apps and identities of ``tenant_id`` can get tokens for it."""

    app_id: str
    app_id_uri: str
    tenant_id: str
    object_id: str  # the API's service principal
    display_name: str
    roles: tuple[str, ...]
    version: Literal[1, 2]
    multi_tenant: bool = False

    def identified_by(self, resource: str) -> bool:
        """Whether a token request's resource names this API (its App ID URI or its client id)."""
        return resource.lower() in (self.app_id_uri.lower(), self.app_id.lower())

    def reaches(self, tenant_id: str) -> bool:
        return self.multi_tenant or tenant_id == self.tenant_id


@dataclass(frozen=True)
class TokenTarget:
    """What a token for a requested resource carries: ``audience`` and token ``version``, and the ``roles``
    the caller holds on the API (empty for a resource that is no registered API)."""

    audience: str
    version: Literal[1, 2] = 1
    roles: tuple[str, ...] = ()


class ResourceNotFound(Exception):
    """AADSTS500011: an App ID URI (``api://...``) that no API in the tenant has. Each stand-in answers it
    in its own dialect."""

    code = 500011
    error = "invalid_resource"

    def __init__(self, resource: str, tenant_id: str) -> None:
        self.resource, self.tenant_id = resource, tenant_id
        super().__init__(
            f"The resource principal named {resource} was not found in the tenant named {tenant_id}. This can "
            "happen if the application has not been installed by the administrator of the tenant or consented "
            "to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        )

    @property
    def message(self) -> str:
        return str(self)


@dataclass
class Tenant:
    """A directory: its GUID and its verified domain (an authority URL may name it by either)."""

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
        self.apis: list[ApiRegistration] = []
        self._assignments: dict[tuple[str, str], list[str]] = {}  # (API app id, principal object id) -> roles
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

    # --- exposed APIs ---------------------------------------------------------------------------------

    def register_api(
        self,
        app_id_uri: str,
        *,
        roles: Sequence[str] = (),
        version: int = 1,
        tenant_id: str | None = None,
        display_name: str | None = None,
        multi_tenant: bool = False,
        app_id: str | None = None,
    ) -> ApiRegistration:
        """``ValueError`` for an App ID URI with blanks or ``/.default``, one another API of a tenant it
        reaches already has, a version other than 1 or 2, or a role name that is empty, has blanks or is
        repeated."""
        tenant = tenant_id or self.home_tenant.tenant_id
        if tenant not in self.tenants:
            raise ValueError(f"no tenant {tenant!r} in the emulator: add it first with add_tenant()")
        if not app_id_uri or any(c.isspace() for c in app_id_uri) or app_id_uri.rstrip("/").endswith("/.default"):
            raise ValueError(f"app_id_uri must be a URI such as 'api://orders' with no blanks, not {app_id_uri!r}")
        if version not in (1, 2):
            raise ValueError(f"version (accessTokenAcceptedVersion) must be 1 or 2, not {version!r}")
        if isinstance(roles, str):
            raise ValueError(f"roles must be a sequence of role names, such as ({roles!r},), not one string")
        roles = tuple(roles)
        if len(set(roles)) != len(roles) or any(not r or any(c.isspace() for c in r) for r in roles):
            raise ValueError(f"roles must be distinct names without blanks, not {roles!r}")
        api = ApiRegistration(
            app_id=app_id or new_guid(),
            app_id_uri=app_id_uri,
            tenant_id=tenant,
            object_id=new_guid(),
            display_name=display_name or app_id_uri,
            roles=roles,
            version=1 if version == 1 else 2,
            multi_tenant=multi_tenant,
        )
        with self._lock:
            for other in self.apis:
                if (other.identified_by(api.app_id_uri) or other.identified_by(api.app_id)) and (
                    other.multi_tenant or multi_tenant or other.tenant_id == tenant
                ):
                    raise ValueError(f"an API with the App ID URI or app id of {app_id_uri!r} already exists")
            self.apis.append(api)
        return api

    def find_api(self, tenant_id: str, resource: str) -> ApiRegistration | None:
        """The API a token request in ``tenant_id`` names by its App ID URI or client id."""
        with self._lock:
            for api in self.apis:
                if api.identified_by(resource) and api.reaches(tenant_id):
                    return api
        return None

    def assign_role(self, api: ApiRegistration, principal: Principal, role: str) -> None:
        """``ValueError`` for a role the API does not define, or a principal in a tenant the API is not in."""
        if role not in api.roles:
            raise ValueError(f"{api.app_id_uri} has no app role {role!r}; its roles: {', '.join(api.roles) or 'none'}")
        if not api.reaches(principal.tenant_id):
            raise ValueError(
                f"{api.app_id_uri} is not in tenant {principal.tenant_id}: register it there, or as multi_tenant"
            )
        with self._lock:
            held = self._assignments.setdefault((api.app_id, principal.object_id), [])
            if role not in held:
                held.append(role)

    def roles_of(self, api: ApiRegistration, object_id: str) -> tuple[str, ...]:
        with self._lock:
            held = self._assignments.get((api.app_id, object_id), [])
            return tuple(role for role in api.roles if role in held)

    def token_target(self, tenant_id: str, resource: str, object_id: str) -> TokenTarget:
        """The audience, version and roles of a token for ``resource`` issued in ``tenant_id`` to the principal
        ``object_id``. A resource that is no registered API keeps today's v1 token with ``aud`` echoed, unless
        it is an App ID URI (``api://...``), which the tenant must have: ``ResourceNotFound`` otherwise."""
        api = self.find_api(tenant_id, resource)
        if api is None:
            if resource.lower().startswith("api://"):
                raise ResourceNotFound(resource, tenant_id)
            return TokenTarget(resource)
        audience = api.app_id if api.version == 2 else resource
        return TokenTarget(audience, api.version, self.roles_of(api, object_id))

    # --- managed identities -------------------------------------------------------------------------

    def add_user_assigned_identity(
        self, name: str = "appauth-emulator-identity", *, tenant_id: str | None = None
    ) -> ManagedIdentity:
        identity = ManagedIdentity(
            new_guid(), new_guid(), _resource_id(self.subscription_id, name), tenant_id or self.home_tenant.tenant_id
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
