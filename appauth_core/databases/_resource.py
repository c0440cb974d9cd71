"""Which resource a database token is for: Azure Database for PostgreSQL and for MySQL accept tokens for
``https://ossrdbms-aad.database.windows.net`` in the public cloud and the same host under each sovereign
cloud's database suffix (learn.microsoft.com/azure/postgresql/flexible-server/, "Connect with Microsoft Entra
ID authentication")."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import ConfigError

DEFAULT_RESOURCE = "https://ossrdbms-aad.database.windows.net"

# Entra ID sign-in host of each sovereign cloud -> that cloud's database resource.
SOVEREIGN_RESOURCES = {
    "login.microsoftonline.us": "https://ossrdbms-aad.database.usgovcloudapi.net",
    "login.chinacloudapi.cn": "https://ossrdbms-aad.database.chinacloudapi.cn",
    "login.partner.microsoftonline.cn": "https://ossrdbms-aad.database.chinacloudapi.cn",
}


def database_resource(resource: str | None = None, *, authority_host: str | None = None, key: str = "resource") -> str:
    """``resource`` when given (checked: an https URL), else the database resource of the cloud whose Entra ID
    is ``authority_host`` (``https://login.microsoftonline.us/`` -> US Government), else the public one.
    ``key`` names the setting in the error for a bad value."""
    if resource is None:
        host = urlsplit(authority_host).hostname if authority_host else None
        return SOVEREIGN_RESOURCES.get(host or "", DEFAULT_RESOURCE)
    if not isinstance(resource, str) or urlsplit(resource).scheme != "https" or not urlsplit(resource).hostname:
        raise ConfigError(
            f"{key} must be the https URL of the database resource tokens are asked for (default "
            f"{DEFAULT_RESOURCE}; the sovereign clouds' are {', '.join(sorted(set(SOVEREIGN_RESOURCES.values())))}), "
            f"not {resource!r}.",
            key=key,
        )
    return resource.rstrip("/")
