"""Which managed-identity host this process runs on, and each host's dialect: its endpoint, api-version,
how it names a user-assigned identity, its headers (msal's ``managed_identity.py`` is the reference for each).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._token_claims import fingerprint

HostKind = Literal["service_fabric", "app_service", "app_service_2017", "azure_arc", "cloud_shell", "imds"]

HOST_NAMES: dict[HostKind, str] = {
    "service_fabric": "Managed identity (Service Fabric)",
    "app_service": "Managed identity (App Service)",
    "app_service_2017": "Managed identity (App Service 2017-09-01)",
    "azure_arc": "Managed identity (Azure Arc)",
    "cloud_shell": "Managed identity (Cloud Shell)",
    "imds": "Managed identity (IMDS)",
}

DEFAULT_IMDS_HOST = "http://169.254.169.254"
IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token"
# Where the Arc agent listens when only its binary betrays it (msal's default).
DEFAULT_ARC_ENDPOINT = "http://localhost:40342/metadata/identity/oauth2/token"
ARC_AGENT_BINARY = "/opt/azcmagent/bin/himds"
# msal's PublicClientApplication's hard-coded Cloud Shell endpoint, for AZUREPS_HOST_ENVIRONMENT alone.
DEFAULT_CLOUD_SHELL_ENDPOINT = "http://localhost:50342/oauth2/token"

API_VERSIONS: dict[HostKind, str] = {
    "service_fabric": "2019-07-01-preview",
    "app_service": "2019-08-01",
    "app_service_2017": "2017-09-01",
    "azure_arc": "2020-06-01",
    "imds": "2018-02-01",  # what msal and azure-identity send; .NET 1.6 sent 2019-11-01
}

# How each host names the user-assigned identity's client id (App Service 2017 alone spells it "clientid").
CLIENT_ID_PARAMETERS: dict[HostKind, str] = {
    "app_service": "client_id",
    "app_service_2017": "clientid",
    "azure_arc": "client_id",
    "imds": "client_id",
}


@dataclass(frozen=True)
class ManagedIdentityHost:
    """The managed-identity endpoint this process should use. ``secret`` is the IDENTITY_HEADER /
    MSI_SECRET value that proves a request comes from inside the host; it is never shown."""

    kind: HostKind
    endpoint: str
    secret: str | None = field(default=None, repr=False)
    thumbprint: str | None = None  # Service Fabric: SHA-1 of the endpoint's certificate

    @property
    def name(self) -> str:
        return HOST_NAMES[self.kind]


def detect_host(environ: Mapping[str, str], *, arc_agent_installed: bool | None = None) -> ManagedIdentityHost:
    """The host the environment describes, in msal's / azure-identity's order (first match wins).

    ``arc_agent_installed`` defaults to whether ``/opt/azcmagent/bin/himds`` exists, which msal also
    accepts as "this is an Arc server" when the agent's variables are not set in this process.
    """

    def get(name: str) -> str:
        return (environ.get(name) or "").strip()

    identity_endpoint, identity_header = get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER")
    msi_endpoint, msi_secret = get("MSI_ENDPOINT"), get("MSI_SECRET")
    if identity_endpoint and identity_header and get("IDENTITY_SERVER_THUMBPRINT"):
        return ManagedIdentityHost(
            "service_fabric", identity_endpoint, identity_header, get("IDENTITY_SERVER_THUMBPRINT")
        )
    if identity_endpoint and identity_header:
        return ManagedIdentityHost("app_service", identity_endpoint, identity_header)
    if msi_endpoint and msi_secret:
        return ManagedIdentityHost("app_service_2017", msi_endpoint, msi_secret)
    if identity_endpoint and get("IMDS_ENDPOINT"):
        return ManagedIdentityHost("azure_arc", identity_endpoint)
    if arc_agent_installed is None:
        arc_agent_installed = os.path.exists(ARC_AGENT_BINARY)
    if arc_agent_installed:
        return ManagedIdentityHost("azure_arc", DEFAULT_ARC_ENDPOINT)
    if msi_endpoint:
        return ManagedIdentityHost("cloud_shell", msi_endpoint)
    if get("AZUREPS_HOST_ENVIRONMENT").lower().startswith("cloud-shell"):
        return ManagedIdentityHost("cloud_shell", DEFAULT_CLOUD_SHELL_ENDPOINT)
    base = get("AZURE_POD_IDENTITY_AUTHORITY_HOST") or DEFAULT_IMDS_HOST
    return ManagedIdentityHost("imds", base.rstrip("/") + IMDS_TOKEN_PATH)


def default_arc_key_dir() -> Path | None:
    """The folder the Arc agent writes its challenge keys to (only root and the agent may read it)."""
    if sys.platform.startswith("linux"):
        return Path("/var/opt/azcmagent/tokens")
    if sys.platform == "win32":
        return Path(os.path.expandvars(r"%ProgramData%\AzureConnectedMachineAgent\Tokens"))
    return None


def normalize_thumbprint(thumbprint: str) -> str | None:
    """40 lower-case hex digits, or None when ``thumbprint`` is not a SHA-1 thumbprint."""
    digits = "".join(ch for ch in thumbprint if ch not in " \t\r\n:").lower()
    return digits if re.fullmatch(r"[0-9a-f]{40}", digits) else None


@dataclass(frozen=True)
class HostRequest:
    """One HTTP request in a host's dialect."""

    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    data: dict[str, str] | None = None

    def with_header(self, name: str, value: str) -> HostRequest:
        return HostRequest(self.method, self.url, self.params, {**self.headers, name: value}, self.data)


def host_request(host: ManagedIdentityHost, resource: str, client_id: str | None) -> HostRequest:
    """The token request for ``resource`` (for the user-assigned identity ``client_id``, or the system one)."""
    kind = host.kind
    if kind == "cloud_shell":  # a form POST, unlike every other host
        return HostRequest("POST", host.endpoint, {}, {"Metadata": "true"}, data={"resource": resource})
    params = {"api-version": API_VERSIONS[kind], "resource": resource}
    if client_id:
        params[CLIENT_ID_PARAMETERS[kind]] = client_id
    headers = {
        "service_fabric": {"Secret": host.secret or ""},
        "app_service": {"X-IDENTITY-HEADER": host.secret or "", "Metadata": "true"},
        "app_service_2017": {"secret": host.secret or ""},
        "azure_arc": {"Metadata": "true"},
        "imds": {"Metadata": "true"},  # lower-case "true": IMDS compares it exactly
    }[kind]
    return HostRequest("GET", host.endpoint, params, headers)


def cache_identity(host: ManagedIdentityHost, client_id: str | None) -> str:
    """``msi:<client id or system>@<kind>:<endpoint>``, plus the identity header's fingerprint and the
    Service Fabric thumbprint when the host has them: whatever selects whose token the host hands out."""
    identity = f"msi:{client_id.lower() if client_id else 'system'}@{host.kind}:{host.endpoint}"
    if host.secret:
        identity += f";header={fingerprint(host.secret)}"
    if host.thumbprint:
        identity += f";thumbprint={normalize_thumbprint(host.thumbprint) or host.thumbprint}"
    return identity
