"""AKS workload identity: a pod signs in as an app (or user-assigned identity) with the service-account
token Kubernetes projects into it, which Entra ID trusts through a federated credential.

The AKS webhook injects ``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``, ``AZURE_AUTHORITY_HOST`` and
``AZURE_FEDERATED_TOKEN_FILE``. The file is a JWT that kubelet rotates (it lives an hour and is rewritten
well before that), so it is re-read when it changed on disk and at least every five minutes, never
copied once at start. msal sends it as a ``client_assertion`` (jwt-bearer) to
``{authority host}{tenant}/oauth2/v2.0/token``, through the ``ConfidentialClients`` the service-principal
sources use (so msal keeps no token of its own, and ``force_refresh`` reaches Entra ID here too).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..._internal import fork_safety
from ...errors import AzureServiceTokenProviderError, SourceUnavailableError
from ._base import SourceToken, TokenRequest, is_valid_resource, is_valid_tenant
from ._confidential_client import ConfidentialClients, Credential, FailureContext, Hint

TOKEN_FILE_MAX_AGE = 300.0  # seconds; azure-identity waits 600, kubelet refreshes at 80% of an hour
ENVIRONMENT_VARIABLES = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE")

# Workload-identity fixes for Entra's refusals, added after the general AADSTS hints.
_HINTS: dict[int, Hint] = {
    70021: lambda c: (
        f"No federated credential on {c.app_id} matches the issuer and subject of this pod's service-account "
        "token (Entra names both above): add one "
        "whose issuer is the cluster's OIDC issuer URL and whose subject is "
        "system:serviceaccount:<namespace>:<service account> (`az identity federated-credential create`), "
        "and check the pod runs under that service account."
    ),
    700024: lambda c: (
        "The federated token in AZURE_FEDERATED_TOKEN_FILE has expired: check that kubelet still refreshes the "
        'projected token (pod label azure.workload.identity/use: "true") and this machine\'s clock.'
    ),
    700211: lambda c: (
        "No federated credential trusts this token's issuer: the credential's issuer must be the cluster's "
        "OIDC issuer URL (`az aks show --query oidcIssuerProfile.issuerUrl`)."
    ),
    700212: lambda c: "No federated credential accepts this token's audience: it must be api://AzureADTokenExchange.",
}


def _discovery_hint(context: FailureContext) -> str:
    return "Check AZURE_AUTHORITY_HOST and AZURE_TENANT_ID."


class _TokenFileError(Exception):
    """The federated token file cannot be used; raised inside msal's assertion callback."""


@dataclass(frozen=True)
class _FileVersion:
    """What tells a rewritten file apart: kubelet swaps a symlink to a new file (new inode, new mtime)."""

    inode: int
    size: int
    mtime_ns: int


class FederatedTokenFile:
    """The projected service-account token, read at most every ``max_age`` seconds unless the file
    changed on disk in between (checked with a cheap ``stat`` on every use)."""

    def __init__(self, path: str | os.PathLike[str], *, max_age: float = TOKEN_FILE_MAX_AGE) -> None:
        self.path = Path(path)
        self.max_age = max_age
        self.reads = 0  # how many times the file was actually read (for tests and diagnostics)
        self._clock: Callable[[], float] = time.monotonic
        self._lock = threading.Lock()
        self._cached: tuple[str, _FileVersion, float] | None = None
        fork_safety.new_lock_in_child(self)

    def __call__(self) -> str:
        """The current token: msal calls this each time it needs a client assertion."""
        with self._lock:
            version = self._version()
            if self._cached is not None:
                token, cached_version, read_at = self._cached
                if cached_version == version and self._clock() - read_at < self.max_age:
                    return token
            token = self._read()
            self._cached = (token, version, self._clock())
            return token

    def _version(self) -> _FileVersion:
        try:
            info = self.path.stat()
        except OSError as exc:
            raise _TokenFileError(self._unreadable(exc)) from None
        return _FileVersion(info.st_ino, info.st_size, info.st_mtime_ns)

    def _read(self) -> str:
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise _TokenFileError(self._unreadable(exc)) from None
        self.reads += 1
        if not token:
            raise _TokenFileError(
                f"The federated token file {self.path} is empty: kubelet has not written the service-account "
                "token yet, or the projected volume is misconfigured."
            )
        return token

    def _unreadable(self, exc: Exception) -> str:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return (
            f"Cannot read the federated token file {self.path} ({reason}): check AZURE_FEDERATED_TOKEN_FILE and "
            'that the pod has the label azure.workload.identity/use: "true" and a service account annotated '
            "with azure.workload.identity/client-id."
        )


def _normalize_authority_host(host: str) -> str:
    """``login.microsoftonline.com`` or ``https://host`` → ``https://host/`` (the form TokenRequest uses)."""
    host = host.strip()
    if "://" not in host:
        host = "https://" + host
    return host.rstrip("/") + "/"


class WorkloadIdentitySource:
    """A token for the app (or user-assigned identity) ``client_id`` in ``tenant_id``, signed in with the
    federated token in ``token_file``.

    ``authority_host`` (AZURE_AUTHORITY_HOST in AKS) wins over the request's, since the webhook sets it for
    the cloud the cluster is in; without it the request's authority host is used. A request naming another
    tenant gets a token from that tenant (a multi-tenant app), as the other service-principal sources do.
    """

    name = "Workload identity"

    def __init__(
        self,
        client_id: str,
        tenant_id: str,
        token_file: str | os.PathLike[str],
        *,
        authority_host: str | None = None,
    ) -> None:
        if not client_id or not tenant_id or not str(token_file):
            raise ValueError("WorkloadIdentitySource needs a client id, a tenant id and a token file")
        self.client_id = client_id
        self.tenant_id = tenant_id
        self.token_file = FederatedTokenFile(token_file)
        self.authority_host = _normalize_authority_host(authority_host) if authority_host else None
        # Whose token: the app, its tenant, the pod's token file and the cloud it signs in to.
        self.cache_identity = (
            f"workload:{client_id.lower()}:{tenant_id}:{os.path.abspath(token_file)}"
            f";authority={self.authority_host or 'of the request'}"
        )
        self._credential = Credential(
            key="federated-token", label="federated token", value={"client_assertion": self.token_file}
        )
        # Errors read as the managed-identity ones this source stands in for: no "Tried to get token" prefix.
        self._clients = ConfidentialClients(
            client_id, self.name, hints=_HINTS, discovery_hint=_discovery_hint, message_prefix=""
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> WorkloadIdentitySource:
        """The source the AKS webhook's variables describe; ``SourceUnavailableError`` names any missing."""
        env = os.environ if environ is None else environ
        missing = [name for name in ENVIRONMENT_VARIABLES if not (env.get(name) or "").strip()]
        if missing:
            raise SourceUnavailableError(
                f"Workload identity is not configured: {', '.join(missing)} not set (the AKS workload identity "
                'webhook sets them for pods labelled azure.workload.identity/use: "true").',
                method=cls.name,
            )
        return cls(
            env["AZURE_CLIENT_ID"].strip(),
            env["AZURE_TENANT_ID"].strip(),
            env["AZURE_FEDERATED_TOKEN_FILE"].strip(),
            authority_host=(env.get("AZURE_AUTHORITY_HOST") or "").strip() or None,
        )

    def __repr__(self) -> str:
        return (
            f"WorkloadIdentitySource(client_id={self.client_id!r}, tenant_id={self.tenant_id!r}, "
            f"token_file={str(self.token_file.path)!r})"
        )

    # --- TokenSource ---------------------------------------------------------------------------------

    def get_token(self, request: TokenRequest) -> SourceToken:
        if self.authority_host:
            request = replace(request, authority_host=self.authority_host)
        tenant = request.tenant_id or self.tenant_id
        authority = f"{request.authority_host}{tenant}"
        # ``acquire`` refuses an invalid tenant (that check comes first); the resource becomes msal's scope.
        if is_valid_tenant(tenant) and not is_valid_resource(request.resource):
            raise self._clients.error(request, authority, f"'{request.resource}' is not a valid resource URI.")
        try:
            return self._clients.acquire(request, tenant, self._credential)
        except _TokenFileError as exc:
            raise self._clients.error(request, authority, str(exc)) from None


class IncompleteWorkloadIdentitySource:
    """Stands in for workload identity when ``AZURE_FEDERATED_TOKEN_FILE`` is set but the AKS webhook's
    other variables are not all there: the pod was meant to sign in as its own identity, so the default
    chain must not fall through to the node's managed identity (IMDS) or a developer's sign-in. Every call
    raises, naming what is missing."""

    name = "Workload identity"

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.token_file = (environ.get("AZURE_FEDERATED_TOKEN_FILE") or "").strip()
        self.missing = [name for name in ENVIRONMENT_VARIABLES if not (environ.get(name) or "").strip()]
        self.cache_identity = f"workload:incomplete:{os.path.abspath(self.token_file)}"

    def get_token(self, request: TokenRequest) -> SourceToken:
        raise AzureServiceTokenProviderError(
            f"Workload identity is only partly configured: AZURE_FEDERATED_TOKEN_FILE is set "
            f"({self.token_file}) but {', '.join(self.missing)} not. Not falling back to another identity "
            "(the node's managed identity or a developer sign-in): set the missing variables (the AKS workload "
            'identity webhook does, for pods labelled azure.workload.identity/use: "true" whose service account '
            "is annotated with azure.workload.identity/client-id), or unset AZURE_FEDERATED_TOKEN_FILE.",
            resource=request.resource,
            method=self.name,
        )
