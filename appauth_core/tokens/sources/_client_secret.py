"""Service principal with a client secret (``RunAs=App;AppId=...;TenantId=...;AppKey=...``).

The msal machinery it shares with the certificate, Key Vault certificate and workload identity sources
(one msal app per authority and credential, Entra's errors turned into fixes) is in
``confidential_client``.
"""

from __future__ import annotations

from .._token_claims import fingerprint
from ._base import SourceToken, TokenRequest
from ._confidential_client import ConfidentialClients, Credential


class ClientSecretSource:
    """A service principal signing in with a client secret (the connection string's ``AppKey``).

    The secret is kept out of ``repr`` and out of every message: Entra does not echo it, and whatever text
    comes back from Entra or the network stack is scrubbed of it anyway (``confidential_client.scrub``); the
    .NET library redacted only its connection string.
    """

    name = "Service principal (client secret)"

    def __init__(self, app_id: str, tenant_id: str, secret: str) -> None:
        if not app_id or not tenant_id or not secret:
            raise ValueError("ClientSecretSource needs an app id, a tenant id and a secret")
        self.app_id = app_id
        self.tenant_id = tenant_id
        # The secret's fingerprint is part of the identity: a provider with a wrong or rotated AppKey must not
        # be handed the token another provider in this process got with the right one.
        self.cache_identity = f"app:{app_id}:{tenant_id}:secret:{fingerprint(secret)}"
        self._credential = Credential(key="secret", label="client secret", value=secret)
        self._clients = ConfidentialClients(app_id, self.name)

    def __repr__(self) -> str:
        return f"ClientSecretSource(app_id={self.app_id!r}, tenant_id={self.tenant_id!r})"

    def get_token(self, request: TokenRequest) -> SourceToken:
        tenant = request.tenant_id or self.tenant_id
        return self._clients.acquire(request, tenant, self._credential)
