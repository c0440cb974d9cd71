"""The local Azure emulator: Entra ID, managed-identity endpoints and Key Vault on loopback ports.

It replaces only what cannot run here, and speaks the services' own protocols so that msal,
azure-identity, azure-keyvault-secrets, the Azure CLI and Azurite accept it unchanged.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import _saved_state
from ._control import ControlStandIn
from ._directory import (
    ApiRegistration,
    AppRegistration,
    ClientCertificate,
    Directory,
    FederatedCredential,
    ManagedIdentity,
    Principal,
    ResourceNotFound,
    Tenant,
    TokenTarget,
)
from ._entra import EntraStandIn
from ._eventgrid import EventGridStandIn, EventSubscription, Schema
from ._faults import FaultInjector, RequestCounter
from ._federation import FederationStandIn
from ._http import Listener, Router
from ._keyvault import ALL_PERMISSIONS, Vault
from ._managed_identity import (
    APP_SERVICE_PATH,
    ARC_PREFIX,
    CLOUD_SHELL_PATH,
    IMDS_PATH,
    ManagedIdentityStandIn,
    issue_for_identity,
)
from ._tls import EmulatorTLS
from ._tokens import IssuedToken, TokenIssuer, TokenListener

FEDERATION_AUDIENCE = "api://AzureADTokenExchange"

PORT_OFFSETS = {
    "vault": 0,  # the default vault: https://127.0.0.1:<port>/, what KEY_VAULT_URL and VAULT_SUFFIX name
    "entra": 1,
    "managed_identity": 2,
    "control": 3,
    "service_fabric": 4,
    "federation": 5,
}
"""With ``port=P`` each listener has a fixed port, ``P + offset``, so its URLs are the same on every start.
Vaults added later (``add_vault``) get a port of their own from the system."""

# Variables that select a token source in msal / azure-identity / appauth; the environment fixture
# clears the ones it does not set so a developer's own shell cannot leak into a test.
SOURCE_SELECTING_VARIABLES = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZUREPS_HOST_ENVIRONMENT",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AzureServicesAuthConnectionString",
)


class PortInUseError(OSError):
    """A fixed port (``port=``) is taken, most often by an emulator that is still running."""

    def __init__(self, listener: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"port {port} on 127.0.0.1 ({listener}) is in use: is another emulator running with this port? "
            "Stop it, or choose another port",
        )
        self.listener = listener
        self.port = port


class AzureEmulator:
    """Start with ``with AzureEmulator() as emulator:`` (or ``start()`` / ``stop()``).

    Out of the box it has one tenant, one service principal with a client secret (``app``), a
    system-assigned and a user-assigned managed identity, and one vault (``vault``) that all of them may
    read and write. Everything is generated per instance: no two emulators share a tenant or a secret.
    """

    def __init__(
        self,
        *,
        tenant_id: str | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        arc_key_dir: str | os.PathLike[str] | None = None,
        token_lifetime: int = 3599,
        vault_name: str = "local",
        port: int | None = None,
        keep_state: bool = False,
    ) -> None:
        """``port``: the default vault's port; the other listeners follow it (``PORT_OFFSETS``); None: ports
        from the system. ``keep_state``: keep the CA, tenant, service principal and keys in ``state_dir`` and
        reuse what an earlier emulator kept there, so that a restart changes nothing in ``env()``."""
        if keep_state and state_dir is None:
            raise ValueError("keep_state needs a state_dir to keep the state in")
        if port is not None and not 0 < port <= 65535 - max(PORT_OFFSETS.values()):
            raise ValueError(f"port must be between 1 and {65535 - max(PORT_OFFSETS.values())}, not {port}")
        self._port = port
        self._owns_state_dir = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="appauth-emulator-")).resolve()
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        saved = _saved_state.load(self.state_dir) if keep_state else None
        self.directory = Directory(tenant_id or (saved.tenant_id if saved else None))
        self.issuer = TokenIssuer(token_lifetime, authority=lambda: self.authority)
        self.faults = FaultInjector()
        self.counters = RequestCounter()
        self.tls = EmulatorTLS(self.state_dir, reuse=keep_state)
        self.federation = FederationStandIn()
        self.entra = EntraStandIn(self.directory, self.issuer, self.federation)
        self.managed_identity = ManagedIdentityStandIn(
            self.directory, self.issuer, Path(arc_key_dir) if arc_key_dir else self.state_dir / "arc-tokens"
        )
        self.control = ControlStandIn(self)
        self.event_grid = EventGridStandIn(self.directory, self.issuer, lambda: str(self.ca_bundle_path))
        self.app: AppRegistration = self.directory.register_app(
            app_id=saved.app_id if saved else None,
            secret=saved.app_secret if saved else _entra_style_secret(),
            display_name="appauth-emulator-app",
        )
        if keep_state:
            self._restore_and_keep(saved)
        self.user_assigned_identity = self.directory.add_user_assigned_identity()
        self.vaults: dict[str, Vault] = {}
        self._vault_listeners: dict[str, Listener] = {}
        self._listeners: dict[str, Listener] = {}
        self._running = False
        self.vault = self.add_vault(vault_name)

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> AzureEmulator:
        """Listen on every port; ``PortInUseError`` (nothing left listening) when a fixed port is taken."""
        if self._running:
            return self
        services: dict[str, tuple[Router, bool]] = {
            "entra": (self.entra.route, True),
            "managed_identity": (self.managed_identity.route, False),
            "service_fabric": (self.managed_identity.route_service_fabric, True),
            "control": (self.control.route, False),
            "federation": (self.federation.route, True),
        }
        try:
            for name, (router, https) in services.items():
                self._listeners[name] = self._listener(name, router, https=https, port=self._port_of(name))
            self._running = True
            for vault in self.vaults.values():
                self._start_vault(vault)
        except PortInUseError:
            self._close_listeners()
            raise
        # Reached by host name, as ADFS is: Kerberos asks for a ticket to HTTP/<host of the URL>.
        self.federation.base_url = f"https://localhost:{self._listeners['federation'].port}/"
        return self

    def stop(self) -> None:
        self.event_grid.close()
        self._close_listeners()
        if self._owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _close_listeners(self) -> None:
        for listener in [*self._vault_listeners.values(), *self._listeners.values()]:
            listener.stop()
        self._vault_listeners.clear()
        self._listeners.clear()
        self._running = False

    def __enter__(self) -> AzureEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _port_of(self, name: str) -> int:
        return 0 if self._port is None else self._port + PORT_OFFSETS[name]

    def _listener(self, name: str, router: Router, *, https: bool = False, port: int = 0) -> Listener:
        """A started listener (one that never served cannot be shut down, so none is left unstarted)."""
        context = self.tls.server_context() if https else None
        try:
            listener = Listener(name, router, self.faults, self.counters, ssl_context=context, port=port)
        except OSError as exc:
            if port and exc.errno == errno.EADDRINUSE:
                raise PortInUseError(name, port) from None
            raise
        listener.start()
        return listener

    def _start_vault(self, vault: Vault) -> None:
        port = self._port_of("vault") if vault is self.vault else 0
        listener = self._listener(f"keyvault.{vault.name}", vault.route, https=True, port=port)
        vault.url = listener.url
        self._vault_listeners[vault.name] = listener

    def _restore_and_keep(self, saved: _saved_state.SavedState | None) -> None:
        if saved is not None:
            self.managed_identity.identity_header = saved.identity_header
            self.control.key = saved.control_key
        state = _saved_state.SavedState(
            tenant_id=self.tenant_id,
            app_id=self.app.app_id,
            app_secret=self.app.secrets[0],
            identity_header=self.managed_identity.identity_header,
            control_key=self.control.key,
        )
        _saved_state.save(self.state_dir, state)

    # --- configuration ----------------------------------------------------------------------------

    def add_vault(self, name: str, *, grant_defaults: bool = True) -> Vault:
        """A new vault on its own port; the default app and identities may use it unless told otherwise."""
        if name in self.vaults:
            raise ValueError(f"a vault named {name!r} already exists")
        vault = Vault(name, self.directory.home_tenant.tenant_id, self.issuer, lambda: self.authority)
        vault.on_secret_set.append(self.event_grid.secret_set)
        if grant_defaults:
            for object_id in (self.app.object_id, *(i.object_id for i in self.directory.identities)):
                vault.grant(object_id, ALL_PERMISSIONS)
        self.vaults[name] = vault
        if self._running:
            self._start_vault(vault)
        return vault

    def subscribe_events(
        self, url: str, *, schema: Schema = "EventGridSchema", audience: str | None = None, vault: Vault | None = None
    ) -> EventSubscription:
        """Subscribe the webhook at ``url`` to ``vault``'s (default: the default vault's) Key Vault events, as
        ``az eventgrid system-topic event-subscription create`` does: the handshake first, then every secret set
        is delivered, with a token for ``audience`` issued to Event Grid (see ``_eventgrid``)."""
        return self.event_grid.subscribe(vault or self.vault, url, schema=schema, audience=audience)

    def register_app(
        self,
        *,
        secret: str | None = None,
        certificate: ClientCertificate | None = None,
        federated_subject: str | None = None,
        tenant_id: str | None = None,
        vault_permissions: frozenset[str] | None = ALL_PERMISSIONS,
    ) -> AppRegistration:
        """Register a service principal; by default it may use the default vault."""
        app = self.directory.register_app(
            tenant_id=tenant_id,
            secret=secret,
            certificates=[certificate.certificate] if certificate else None,
            federated_credentials=[FederatedCredential(self.federation_issuer, federated_subject)]
            if federated_subject
            else None,
        )
        if vault_permissions:
            self.vault.grant(app.object_id, vault_permissions)
        return app

    def configure(
        self,
        *,
        token_lifetime: int | None = None,
        managed_identity_token_lifetime: int | None = None,
        legacy_expires_on: bool | None = None,
        reuse_managed_identity_tokens: bool | None = None,
    ) -> None:
        """Switches a test may flip while the emulator runs (also over the control API).
        ``reuse_managed_identity_tokens``: answer the managed-identity endpoints from a token cache, as Azure's
        do (the same token for the same identity and resource until half its lifetime has passed)."""
        if token_lifetime is not None:
            self.issuer.lifetime = int(token_lifetime)
        if managed_identity_token_lifetime is not None:
            self.managed_identity.token_lifetime = int(managed_identity_token_lifetime)
        if legacy_expires_on is not None:
            self.managed_identity.legacy_expires_on = bool(legacy_expires_on)
        if reuse_managed_identity_tokens is not None:
            self.managed_identity.reuse_tokens = bool(reuse_managed_identity_tokens)

    # --- tokens for tests -------------------------------------------------------------------------

    def add_tenant(self, tenant_id: str | None = None, *, domain: str | None = None) -> Tenant:
        """Another tenant (a new GUID unless given): ``register_app(tenant_id=...)`` and
        ``register_api(tenant_id=...)`` put apps and APIs in it; its discovery and keys are served at once."""
        if tenant_id is not None and self.directory.find_tenant(tenant_id) is not None:
            raise ValueError(f"the tenant {tenant_id} already exists")
        return self.directory.add_tenant(tenant_id, domain)

    def register_api(
        self,
        app_id_uri: str,
        *,
        roles: Sequence[str] = (),
        version: int = 1,
        tenant_id: str | None = None,
        display_name: str | None = None,
        multi_tenant: bool = False,
    ) -> ApiRegistration:
        """An app registration exposing an API at ``app_id_uri`` (``identifierUris``) with these app roles,
        accepting v1 (Entra's default) or v2 tokens (``accessTokenAcceptedVersion``). Token requests for the
        App ID URI or the app id (v1 ``resource=``, v2 ``scope=<uri>/.default``, every managed-identity
        endpoint) then get ``aud`` = the resource as asked for v1 and the app id for v2, and ``roles`` = the
        roles ``assign_role`` gave the caller. ``multi_tenant``: any tenant's apps may get tokens for it
        (``tid`` and issuer are theirs). Without it, only its own tenant's. ``ValueError`` for a bad URI, version
        or role name, or an App ID URI already taken in the tenant."""
        return self.directory.register_api(
            app_id_uri,
            roles=roles,
            version=version,
            tenant_id=tenant_id,
            display_name=display_name,
            multi_tenant=multi_tenant,
        )

    def assign_role(self, api: ApiRegistration, principal: Principal, role: str) -> None:
        """Give a service principal (``AppRegistration``) or managed identity one of the API's app roles:
        its tokens for the API carry it in ``roles`` from the next token on. ``ValueError`` for a role the
        API does not define or a principal in a tenant the API is not in."""
        self.directory.assign_role(api, principal, role)

    def rotate_signing_key(self) -> str:
        """Publish a new signing key beside the current ones and sign every token from now on with it (as
        Entra rolls its keys). Tokens signed before stay valid while their key is published. Returns the new
        key's ``kid``."""
        return self.issuer.rotate()

    def retire_old_signing_keys(self) -> tuple[str, ...]:
        """Stop publishing every key but the newest: tokens they signed no longer verify, here (Key Vault,
        ARM) or with the JWKS. Returns the retired ``kid``s."""
        return self.issuer.retire_old()

    # --- tokens for tests -------------------------------------------------------------------------

    def issue_token(
        self,
        resource: str,
        *,
        app: AppRegistration | None = None,
        identity: ManagedIdentity | None = None,
        lifetime: int | None = None,
        tenant_id: str | None = None,
    ) -> IssuedToken:
        """A token exactly as the token endpoints would issue it, without the round trip: for a registered
        API, its audience, version and the principal's roles. An ``api://`` URI no API has, which the
        endpoints refuse (AADSTS500011), is echoed as ``aud`` in a v1 token here, so a test can make a
        token for the wrong audience."""
        principal: Principal = identity or app or self.app
        tenant = tenant_id or principal.tenant_id
        target = self._target(tenant, resource, principal.object_id)
        if isinstance(principal, ManagedIdentity):
            return issue_for_identity(self.issuer, principal, target, lifetime=lifetime, tenant_id=tenant)
        return self.issuer.issue(
            tenant_id=tenant,
            audience=target.audience,
            app_id=principal.app_id,
            object_id=principal.object_id,
            appidacr="1",
            lifetime=lifetime,
            version=target.version,
            roles=target.roles,
        )

    def issue_user_token(
        self,
        api: ApiRegistration | str,
        *,
        scopes: Sequence[str] = ("user_impersonation",),
        tenant_id: str | None = None,
        version: int | None = None,
        user: str | None = None,
        client: AppRegistration | None = None,
        roles: Sequence[str] = (),
        lifetime: int | None = None,
    ) -> str:
        """A delegated token for a signed-in user, as Entra issues one to ``client`` (default: ``app``) calling
        ``api`` (an ``ApiRegistration`` or a resource): ``scp`` holds ``scopes`` space-separated, ``idtyp`` is
        ``user``, ``upn`` the user (default ``user@<tenant's domain>``), ``oid`` the same for the same user
        and tenant, ``sub`` a pairwise id (never the ``oid``). ``version``: default the API's; ``roles``: app
        roles assigned to the user. ``tenant_id``: default the API's tenant (any tenant for a multi-tenant
        API). ``ValueError`` for no scopes, a scope with blanks or an unknown tenant."""
        scopes = tuple(scopes)
        if not scopes or any(not scope or any(c.isspace() for c in scope) for scope in scopes):
            raise ValueError(f"scopes must be one or more names without blanks, not {scopes!r}")
        if isinstance(api, ApiRegistration):
            tenant_id = tenant_id or api.tenant_id
        tenant = self.directory.find_tenant(tenant_id or self.tenant_id)
        if tenant is None:
            raise ValueError(f"no tenant {tenant_id!r} in the emulator: add it first with add_tenant()")
        resource = api.app_id_uri if isinstance(api, ApiRegistration) else api
        registered = self.directory.find_api(tenant.tenant_id, resource)
        accepted = (registered.version if registered else 1) if version is None else version
        if accepted not in (1, 2):
            raise ValueError(f"version must be 1 or 2, not {version!r}")
        # v1: the resource as asked; v2: the API's client id
        audience = registered.app_id if registered and accepted == 2 else resource
        upn = user or f"user@{tenant.domain}"
        object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"appauth-emulator:{tenant.tenant_id}:{upn.lower()}"))
        caller = client or self.app
        name = upn.split("@")[0]
        extra: dict[str, Any] = {
            "idtyp": "user",
            "scp": " ".join(scopes),
            "upn": upn,
            "unique_name": upn,
            "name": name,
            "amr": ["pwd"],
            "acr": "1",
            "ipaddr": "127.0.0.1",
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"appauth-emulator:{caller.app_id}:{object_id}")),
        }
        if accepted == 2:
            extra["preferred_username"] = upn
        return self.issuer.issue(
            tenant_id=tenant.tenant_id,
            audience=audience,
            app_id=caller.app_id,
            object_id=object_id,
            appidacr="0",
            lifetime=lifetime,
            extra=extra,
            version=1 if accepted == 1 else 2,
            roles=tuple(roles),
        ).access_token

    def _target(self, tenant_id: str, resource: str, object_id: str) -> TokenTarget:
        try:
            return self.directory.token_target(tenant_id, resource, object_id)
        except ResourceNotFound:
            return TokenTarget(resource)

    def on_token_issued(self, listener: TokenListener) -> Callable[[], None]:
        """Call ``listener(claims, issued)`` for every access token issued from now on (any endpoint);
        returns a function that removes it. Tests use it to mirror tokens into a local server's accounts."""
        self.issuer.listeners.append(listener)
        return lambda: self.issuer.listeners.remove(listener) if listener in self.issuer.listeners else None

    @property
    def federation_issuer(self) -> str:
        """The OIDC issuer of the emulated Kubernetes cluster (AKS workload identity)."""
        return f"{self.authority}federation/"

    def issue_federated_token(self, subject: str, *, audience: str = FEDERATION_AUDIENCE, lifetime: int = 3600) -> str:
        """A projected service-account token as AKS writes to AZURE_FEDERATED_TOKEN_FILE."""
        now = int(time.time())
        return self.issuer.sign(
            {
                "iss": self.federation_issuer,
                "sub": subject,
                "aud": audience,
                "iat": now,
                "nbf": now,
                "exp": now + lifetime,
            }
        )

    # --- addresses and environments ---------------------------------------------------------------

    def _require_running(self, name: str) -> Listener:
        if not self._running:
            raise RuntimeError("the emulator is not running: call start() or use it as a context manager")
        return self._listeners[name]

    @property
    def authority(self) -> str:
        """The ``azure_ad_instance`` base URL (``https://127.0.0.1:<port>/``), with its trailing slash."""
        return self._require_running("entra").url

    @property
    def authority_with_tenant(self) -> str:
        return f"{self.authority}{self.directory.home_tenant.tenant_id}"

    @property
    def tenant_id(self) -> str:
        return self.directory.home_tenant.tenant_id

    @property
    def managed_identity_url(self) -> str:
        return self._require_running("managed_identity").url.rstrip("/")

    @property
    def control_url(self) -> str:
        return self._require_running("control").url

    @property
    def ca_path(self) -> Path:
        return self.tls.ca_path

    @property
    def ca_bundle_path(self) -> Path:
        """The trust this process already had plus the emulator's CA: what REQUESTS_CA_BUNDLE should name."""
        return self.tls.bundle_path

    def app_service_env(self) -> dict[str, str]:
        return {
            "IDENTITY_ENDPOINT": self.managed_identity_url + APP_SERVICE_PATH,
            "IDENTITY_HEADER": self.managed_identity.identity_header,
        }

    def app_service_2017_env(self) -> dict[str, str]:
        return {
            "MSI_ENDPOINT": self.managed_identity_url + APP_SERVICE_PATH,
            "MSI_SECRET": self.managed_identity.identity_header,
        }

    def imds_env(self) -> dict[str, str]:
        return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.managed_identity_url}

    def arc_env(self) -> dict[str, str]:
        base = self.managed_identity_url + ARC_PREFIX
        return {"IDENTITY_ENDPOINT": base + IMDS_PATH, "IMDS_ENDPOINT": base}

    def cloud_shell_env(self) -> dict[str, str]:
        return {
            "MSI_ENDPOINT": self.managed_identity_url + CLOUD_SHELL_PATH,
            "AZUREPS_HOST_ENVIRONMENT": "cloud-shell/1.0",
        }

    def service_fabric_env(self) -> dict[str, str]:
        return {
            "IDENTITY_ENDPOINT": self._require_running("service_fabric").url + IMDS_PATH.lstrip("/"),
            "IDENTITY_HEADER": self.managed_identity.service_fabric_secret,
            "IDENTITY_SERVER_THUMBPRINT": self.tls.server_thumbprint_sha1,
        }

    def env(self) -> dict[str, str]:
        """What ``--env-file`` writes: the emulator's addresses, a service principal, the App Service
        managed identity and the IMDS override. Contains the app's client secret: keep it in tests."""
        return {
            "APPAUTH_EMULATOR_CA": str(self.ca_path),
            "APPAUTH_EMULATOR_CA_BUNDLE": str(self.ca_bundle_path),
            "APPAUTH_EMULATOR_AUTHORITY": self.authority,
            "APPAUTH_EMULATOR_TENANT_ID": self.tenant_id,
            "APPAUTH_EMULATOR_APP_ID": self.app.app_id,
            "APPAUTH_EMULATOR_APP_SECRET": self.app.secrets[0],
            "APPAUTH_EMULATOR_VAULT_URL": self.vault.url,
            "APPAUTH_EMULATOR_CONTROL_URL": self.control_url,
            "APPAUTH_EMULATOR_CONTROL_KEY": self.control.key,
            **self.app_service_env(),
            **self.imds_env(),
        }

    def local_development_env(self) -> dict[str, str]:
        """What ``--env-file`` writes: ``process_env()`` (the addresses, a service principal, the App Service
        managed identity, the CA bundle as ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``), the two settings an app
        reads to use the default vault (``APPAUTH_KEY_VAULT_URL``, ``APPAUTH_VAULT_SUFFIX``: every
        ``VaultName=`` reference goes to it), and a connection string that picks the managed identity, so a
        developer's own ``AzureServicesAuthConnectionString`` cannot send their Azure token here."""
        return {
            **self.process_env(),
            "APPAUTH_KEY_VAULT_URL": self.vault.url,
            "APPAUTH_VAULT_SUFFIX": self.vault.url.removeprefix("https://").rstrip("/"),
            "AzureServicesAuthConnectionString": "RunAs=App",
        }

    def write_env_file(self, path: str | os.PathLike[str]) -> str:
        """``local_development_env()`` as dotenv lines that POSIX shells (``set -a; . FILE``) and
        python-dotenv read alike, written owner-only and atomically so a reader never sees half a file.
        Returns the text written."""
        env = self.local_development_env()
        text = "".join(f"{name}={_dotenv_quote(name, value)}\n" for name, value in env.items())
        _saved_state.write_private(Path(path), text.encode())
        return text

    def process_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """``env()`` plus trust settings, for pointing a process (or a subprocess) at the emulator."""
        bundle = str(self.ca_bundle_path)
        return {**self.env(), "REQUESTS_CA_BUNDLE": bundle, "SSL_CERT_FILE": bundle, **(extra or {})}

    def describe(self) -> dict[str, Any]:
        """Human-facing summary printed by the CLI (no secrets)."""
        return {
            "authority": self.authority,
            "tenant": self.tenant_id,
            "app_id": self.app.app_id,
            "vaults": {name: vault.url for name, vault in self.vaults.items()},
            "managed_identity": self.managed_identity_url,
            "control": self.control_url,
            "ca": str(self.ca_path),
        }


def _dotenv_quote(name: str, value: str) -> str:
    """A dotenv value that a POSIX shell reads back the same: bare when it is plain, else in double quotes
    with backslashes and double quotes escaped. ``$`` and backquotes (expanded by shells, and ``${...}`` by
    python-dotenv) and control characters have no spelling both agree on, so they are refused; only a folder
    name the user chose can bring them in, and the message names the variable, never the value."""
    if any(c in "$`" or not c.isprintable() for c in value):
        raise ValueError(f"{name} cannot be written to an env file: use folders without $, ` or control characters")
    if value and all(c.isalnum() or c in "-_./:+=@,%" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _entra_style_secret() -> str:
    """Shaped like an Entra client secret value (``xyz8Q~...``): never starts with ``-``, which a command
    line such as ``az login -p <secret>`` would read as an option."""
    return secrets.token_hex(2)[:3] + "8Q~" + secrets.token_urlsafe(30)
