"""The three Azure Resource Manager routes the real Azure CLI needs to register a custom cloud and log in
to it (``az cloud register``, ``az login``): ``/metadata/endpoints``, ``/subscriptions`` and ``/tenants``.
They are served on Entra ID's port, since the emulated cloud's ``resourceManager`` is that host."""

from __future__ import annotations

import time
from typing import Any

from ._directory import Directory
from ._http import Handler, Request, Response
from ._tokens import InvalidToken, TokenIssuer

ARM_AUDIENCES = frozenset(
    {
        "https://management.core.windows.net/",
        "https://management.core.windows.net",
        "https://management.azure.com/",
        "https://management.azure.com",
    }
)


class ArmStandIn:
    """Answers the ARM routes for the tokens the emulator issued; any other path is not ARM's (``route``
    returns None and Entra ID's router goes on)."""

    def __init__(self, directory: Directory, issuer: TokenIssuer) -> None:
        self.directory = directory
        self.issuer = issuer

    def route(self, request: Request) -> tuple[str, Handler] | None:
        if request.method != "GET":
            return None
        parts = [p for p in request.path.split("/") if p]
        if parts[:2] == ["metadata", "endpoints"]:
            return "arm.metadata", self._cloud_metadata
        if parts == ["subscriptions"]:
            return "arm.subscriptions", self._subscriptions
        if parts == ["tenants"]:
            return "arm.tenants", self._tenants
        return None

    def _cloud_metadata(self, request: Request) -> Response:
        base = f"https://{request.host}"
        return Response.json(
            200,
            {
                "name": "AppAuthEmulator",
                "portal": f"{base}/portal",
                "authentication": {
                    "loginEndpoint": base,
                    "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
                    "tenant": "common",
                    "identityProvider": "AAD",
                },
                "media": "https://rest.media.azure.net",
                "graphAudience": "https://graph.windows.net/",
                "graph": "https://graph.windows.net/",
                "microsoftGraphResourceId": "https://graph.microsoft.com/",
                "resourceManager": f"{base}/",
                "suffixes": {
                    "keyVaultDns": "vault.azure.net",
                    "storage": "core.windows.net",
                    "acrLoginServer": "azurecr.io",
                    "sqlServerHostname": "database.windows.net",
                },
            },
        )

    def _arm_caller(self, request: Request) -> dict[str, Any] | Response:
        auth = request.header("authorization") or ""
        if not auth.lower().startswith("bearer "):
            return Response.json(
                401,
                {
                    "error": {
                        "code": "AuthenticationFailed",
                        "message": "Authentication failed. The 'Authorization' header is missing.",
                    }
                },
            )
        try:
            claims = self.issuer.verify(auth[7:].strip())
        except InvalidToken:
            return Response.json(
                401,
                {"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}},
            )
        if claims.get("aud") not in ARM_AUDIENCES:
            return Response.json(
                401,
                {
                    "error": {
                        "code": "InvalidAuthenticationTokenAudience",
                        "message": "The access token has been obtained for wrong audience or resource "
                        f"'{claims.get('aud')}'.",
                    }
                },
            )
        if int(claims["exp"]) < time.time():
            return Response.json(
                401,
                {
                    "error": {
                        "code": "ExpiredAuthenticationToken",
                        "message": "The access token expiry UTC time has passed.",
                    }
                },
            )
        return claims

    def _subscriptions(self, request: Request) -> Response:
        caller = self._arm_caller(request)
        if isinstance(caller, Response):
            return caller
        sub = self.directory.subscription_id
        value = []
        if caller["tid"] == self.directory.home_tenant.tenant_id:
            value.append(
                {
                    "id": f"/subscriptions/{sub}",
                    "authorizationSource": "RoleBased",
                    "managedByTenants": [],
                    "subscriptionId": sub,
                    "tenantId": caller["tid"],
                    "displayName": "appauth emulator subscription",
                    "state": "Enabled",
                    "subscriptionPolicies": {
                        "locationPlacementId": "Public_2014-09-01",
                        "quotaId": "PayAsYouGo_2014-09-01",
                        "spendingLimit": "Off",
                    },
                }
            )
        return Response.json(200, {"value": value, "count": {"type": "Total", "value": len(value)}})

    def _tenants(self, request: Request) -> Response:
        caller = self._arm_caller(request)
        if isinstance(caller, Response):
            return caller
        tenant = self.directory.tenants[caller["tid"]]
        return Response.json(
            200,
            {
                "value": [
                    {
                        "id": f"/tenants/{tenant.tenant_id}",
                        "tenantId": tenant.tenant_id,
                        "countryCode": "US",
                        "displayName": "appauth emulator",
                        "domains": [tenant.domain],
                        "tenantCategory": "Home",
                        "defaultDomain": tenant.domain,
                        "tenantType": "AAD",
                    }
                ],
                "count": {"type": "Total", "value": 1},
            },
        )
