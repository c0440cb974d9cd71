"""``RunAs=CurrentUser``: integrated Windows authentication (Kerberos), not implemented.

.NET Framework signed the logged-on Windows user in through ADAL's ``UserCredential()`` (a WS-Trust
exchange with the domain's federation server). No maintained Python library does that today, and the
.NET library itself refused it outside .NET Framework. Rather than hand out a fake or a different user's
token, this source says so and names what works instead.
"""

from __future__ import annotations

from ..errors import AzureServiceTokenProviderError
from .base import SourceToken, TokenRequest


class IntegratedWindowsSource:
    """Always raises ``AzureServiceTokenProviderError`` (not ``SourceUnavailableError``): the connection
    string asked for this method explicitly, so there is nothing to fall back to."""

    name = "Integrated Windows authentication"
    cache_identity = "current-user"

    def __repr__(self) -> str:
        return "IntegratedWindowsSource()"

    def get_token(self, request: TokenRequest) -> SourceToken:
        raise AzureServiceTokenProviderError(
            "Tried to get token using Active Directory Integrated Authentication. Access token could not be "
            "acquired. Integrated Windows authentication (Kerberos) is not available on this platform yet in "
            "appauth. Use 'RunAs=Developer; DeveloperTool=AzureCli' (after 'az login') on a developer machine, "
            "or a service principal ('RunAs=App; AppId=...; TenantId=...' with AppKey, a certificate or "
            "KeyVaultCertificateSecretIdentifier) or a managed identity ('RunAs=App') in Azure.",
            resource=request.resource,
            authority=request.authority,
            method=self.name,
        )
