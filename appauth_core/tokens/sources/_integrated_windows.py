"""``RunAs=CurrentUser``: integrated Windows authentication, the flow ADAL used for federated tenants.

The signed-in user gets a token with no prompt and no secret, when the on-premises directory (Active
Directory) is federated with Entra ID through ADFS (or another WS-Trust server with a ``windowstransport``
endpoint). Steps, each one HTTP request:

1. The user's UPN. Windows: the logged-on account's (``GetUserNameExW(NameUserPrincipal)``). Elsewhere:
   the default principal of the Kerberos credential cache (``kinit``), mapped to a UPN by lower-casing the
   realm: ``alice@CONTOSO.COM`` -> ``alice@contoso.com``, which is Active Directory's implicit UPN
   (sAMAccountName@DNS domain). Where users sign in with another UPN suffix, set
   ``APPAUTH_USER_PRINCIPAL_NAME`` (or pass ``upn=``).
2. User-realm discovery: ``GET {instance}common/userrealm/{upn}?api-version=1.0`` -> the federation
   server's metadata (MEX) URL; a "Managed" (cloud-only) domain cannot sign in this way.
3. The MEX document -> the WS-Trust ``windowstransport`` endpoint (1.3, else 2005).
4. A WS-Trust RequestSecurityToken posted there with ``Authorization: Negotiate <SPNEGO token>`` (SSPI
   on Windows, GSSAPI elsewhere, through pyspnego) -> a SAML 1.1 or 2.0 assertion.
5. ``POST {instance}{tenant}/oauth2/token`` with the SAML bearer grant for the resource -> a user token.

Needs the ``kerberos`` extra (``pip install appauth[kerberos]``: pyspnego, and gssapi off Windows). Without
it, or without a Kerberos ticket, the source is unavailable (``SourceUnavailableError``) at once and
without touching the network, so the default chain moves on to nothing slower.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..._internal import http_limits
from ..._internal.http_sessions import new_session
from ...errors import AzureServiceTokenProviderError, SourceUnavailableError
from . import _ws_trust as ws_trust
from ._base import SourceToken, TokenRequest, is_valid_tenant

# The client id .NET's AppAuthentication used for this flow (WindowsAuthenticationAzureServiceTokenProvider).
CLIENT_ID = "d7813711-9094-4ad3-a062-cac3ec74ebe8"
UPN_VARIABLE = "APPAUTH_USER_PRINCIPAL_NAME"
logger = logging.getLogger("appauth_core")
HTTP_TIMEOUT_SECONDS = 30
_PREFIX = "Tried to get token using Active Directory Integrated Authentication. Access token could not be acquired. "
_KDC_UNREACHABLE = -1765328228  # KRB5_KDC_UNREACH
_SSPI_NO_AUTHORITY = -2146893039  # SEC_E_NO_AUTHENTICATING_AUTHORITY (0x80090311)
_SERVER_UNKNOWN = -1765328377  # KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN

# What Entra's refusals of an assertion mean for the people who can fix them.
_ASSERTION_HINTS = {
    50008: "The federation server's token-signing certificate is not the one Entra ID has for the domain: the "
    "directory administrator must update the federation trust (after an ADFS certificate roll-over: "
    "Update-MgDomainFederationConfiguration, or Update-MsolFederatedDomain).",
    50107: "Entra ID does not know the federation server's issuer: the domain's IssuerUri in Entra ID must match "
    "ADFS's Federation Service Identifier.",
    50013: "The assertion was refused as invalid or expired: check the clocks of this machine and the federation "
    "server.",
    50034: "The user is not in the tenant: check that the account is synchronised to Entra ID (Entra Connect) and "
    "that TenantId names the user's tenant.",
}


class IntegratedWindowsSource:
    """The signed-in Windows (or Kerberos) user, through the domain's federation server.

    ``upn``: the user principal name to sign in as, instead of the one derived from the logged-on account or
    the Kerberos ticket (``APPAUTH_USER_PRINCIPAL_NAME`` does the same)."""

    name = "Integrated Windows authentication"

    @property
    def cache_identity(self) -> str:
        """Who is signed in: the UPN asked for, else (off Windows) the Kerberos credential cache gssapi reads
        (the process's ``KRB5CCNAME``); on Windows the logged-on account, the same for the whole process."""
        env = self._environ if self._environ is not None else _os_environ()
        configured = self._upn or env.get(UPN_VARIABLE) or ""
        ccache = "" if sys.platform == "win32" else _os_environ().get("KRB5CCNAME", "")
        return f"current-user:{configured}:{ccache}"

    def __init__(
        self,
        *,
        upn: str | None = None,
        environ: Mapping[str, str] | None = None,
        timeout: float = HTTP_TIMEOUT_SECONDS,
    ) -> None:
        self._upn = upn
        self._environ = environ
        self._timeout = timeout
        # https only, every reply within the limits, no redirect followed: the Kerberos token, the assertion
        # and the MEX URL stay where they were sent.
        self._session = new_session(max_bytes=http_limits.TOKEN_REPLY_MAX_BYTES, https_only=True)

    def __repr__(self) -> str:
        return f"IntegratedWindowsSource(upn={self._upn!r})" if self._upn else "IntegratedWindowsSource()"

    # --- the flow ---------------------------------------------------------------------------------

    def get_token(self, request: TokenRequest) -> SourceToken:
        """The whole sign-in (its four requests) within ``http_limits.DEFAULT_DEADLINE``; ``timeout`` bounds
        each connection attempt and each wait for the next bytes."""
        with http_limits.deadline(http_limits.DEFAULT_DEADLINE):
            return self._get_token(request)

    def _get_token(self, request: TokenRequest) -> SourceToken:
        tenant = request.tenant_id or "common"
        authority = f"{request.authority_host}{tenant}"
        if not is_valid_tenant(tenant):
            raise self._error(request, authority, f"'{tenant}' is not a valid tenant id or domain.")
        spnego = _import_spnego(request, authority, self.name)
        upn = self._user_principal_name(request, authority)
        realm = self._user_realm(request, authority, upn)
        account_type = str(realm.get("account_type") or "Unknown")
        if account_type == "Managed":
            raise self._error(
                request,
                authority,
                f"The account {upn} is in a managed (cloud-only) domain, not one federated with the on-premises "
                "directory: integrated Windows authentication needs the domain federated with ADFS (or another "
                "WS-Trust federation server). Sign in with `az login` ('RunAs=Developer; DeveloperTool=AzureCli') "
                "instead, or have the directory administrator federate the domain.",
            )
        metadata_url = str(realm.get("federation_metadata_url") or "")
        if account_type != "Federated" or not metadata_url:
            raise self._error(
                request,
                authority,
                f"Entra ID does not know the domain of {upn} (user realm: {account_type}): check the user "
                f"principal name (set {UPN_VARIABLE} when it is not the Kerberos principal with its realm in "
                "lower case) and the cloud (AzureAdInstance).",
            )
        if urlsplit(metadata_url).scheme.lower() != "https":
            raise self._error(
                request,
                authority,
                f"Entra ID's user realm names the federation metadata (MEX) document {metadata_url}, which is not "
                "https: not reading it (whoever can change it on the way could point the sign-in at another "
                "server). The domain's federation settings in Entra ID must name an https metadata URL.",
            )
        with http_limits.reply_limit(http_limits.DOCUMENT_MAX_BYTES):
            mex = self._get(request, authority, metadata_url, "the federation metadata (MEX) document")
        try:
            endpoint = ws_trust.windows_transport_endpoint(mex.content)
        except ws_trust.WsTrustError as exc:
            raise self._error(
                request,
                authority,
                f"The federation metadata at {metadata_url}: {exc}. The federation server's administrator must "
                "enable the integrated endpoint (ADFS: Enable-AdfsEndpoint "
                "-TargetAddressPath /adfs/services/trust/13/windowstransport).",
            ) from None
        audience = str(realm.get("cloud_audience_urn") or ws_trust.DEFAULT_AUDIENCE)
        assertion = self._assertion(request, authority, endpoint, audience, spnego)
        return self._redeem(request, authority, tenant, upn, assertion)

    def _user_principal_name(self, request: TokenRequest, authority: str) -> str:
        env = self._environ if self._environ is not None else _os_environ()
        configured = self._upn or env.get(UPN_VARIABLE)
        if sys.platform == "win32":
            upn = configured or _windows_upn()
            if not upn:
                raise SourceUnavailableError(
                    f"{_PREFIX}The logged-on Windows account has no user principal name: sign in with a domain "
                    f"account (or set {UPN_VARIABLE}).",
                    resource=request.resource,
                    authority=authority,
                    method=self.name,
                )
            return upn
        principal = _kerberos_principal(request, authority, self.name)
        return configured or upn_for_principal(principal)

    def _user_realm(self, request: TokenRequest, authority: str, upn: str) -> dict[str, Any]:
        url = f"{request.authority_host}common/userrealm/{quote(upn, safe='@')}?api-version=1.0"
        reply = self._get(request, authority, url, "Entra ID's user realm discovery")
        try:
            body = reply.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._error(request, authority, f"User realm discovery at {url} did not answer with JSON.")
        return body

    def _assertion(
        self, request: TokenRequest, authority: str, endpoint: ws_trust.Endpoint, audience: str, spnego: Any
    ) -> ws_trust.Assertion:
        host = urlsplit(endpoint.url).hostname or ""
        try:
            context = spnego.client(hostname=host, service="HTTP", protocol="negotiate")
            token = context.step()
        except Exception as exc:  # pyspnego raises SpnegoError subclasses and platform errors
            raise self._error(request, authority, _kerberos_failure(exc, host)) from None
        reply = self._send(
            request,
            authority,
            "POST",
            endpoint.url,
            "the federation server",
            data=ws_trust.request_security_token(endpoint, audience).encode(),
            headers={
                "Content-Type": "application/soap+xml; charset=utf-8",
                "SOAPAction": endpoint.version.action,
                "Authorization": "Negotiate " + base64.b64encode(token).decode(),
            },
        )
        if reply.status_code == 401:
            raise self._error(
                request,
                authority,
                f"The federation server at {endpoint.url} refused the Kerberos ticket (HTTP 401): check that its "
                f"service principal is HTTP/{host} and its keytab current, and that the user may sign in there.",
            )
        fault = ws_trust.soap_fault(reply.content)
        if fault is not None or reply.status_code != 200:
            detail = fault or f"HTTP {reply.status_code}"
            raise self._error(
                request,
                authority,
                f"The federation server at {endpoint.url} did not issue an assertion for the user ({detail}).",
            )
        mutual = _negotiate_reply(reply.headers.get("WWW-Authenticate", ""))
        if mutual is not None:
            try:
                context.step(mutual)
            except Exception:
                raise self._error(
                    request,
                    authority,
                    f"The federation server at {endpoint.url} could not prove its identity (Kerberos mutual "
                    "authentication failed): it may not be the server it claims to be.",
                ) from None
        try:
            return ws_trust.assertion_from_response(reply.text, endpoint.version)
        except ws_trust.WsTrustError as exc:
            raise self._error(request, authority, f"The federation server at {endpoint.url}: {exc}.") from None

    def _redeem(
        self, request: TokenRequest, authority: str, tenant: str, upn: str, assertion: ws_trust.Assertion
    ) -> SourceToken:
        url = f"{authority}/oauth2/token"
        started = time.time()
        reply = self._send(
            request,
            authority,
            "POST",
            url,
            "Entra ID",
            data={
                "grant_type": assertion.grant_type,
                "assertion": base64.b64encode(assertion.xml.encode()).decode(),
                "client_id": CLIENT_ID,
                "resource": request.resource,
                "scope": "openid",
            },
            headers={"Accept": "application/json"},
        )
        try:
            body = reply.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._error(
                request, authority, f"The token endpoint {url} answered HTTP {reply.status_code} without JSON."
            )
        if reply.status_code == 200 and body.get("access_token"):
            expires_on = body.get("expires_on")
            return SourceToken(
                access_token=str(body["access_token"]),
                expires_on=float(expires_on) if expires_on else started + float(body.get("expires_in") or 0),
                token_type=str(body.get("token_type") or "Bearer"),
            )
        from ._confidential_client import FailureContext, describe_error_reply  # msal: only on this path

        codes = [int(code) for code in body.get("error_codes") or []]
        described = describe_error_reply(body, FailureContext(CLIENT_ID, tenant, request.resource, "SAML assertion"))
        hints = " ".join(_ASSERTION_HINTS[code] for code in codes if code in _ASSERTION_HINTS)
        raise self._error(
            request,
            authority,
            f"Entra ID refused the federation server's SAML assertion for {upn}: {described}"
            + (f" {hints}" if hints else ""),
        )

    # --- helpers ----------------------------------------------------------------------------------

    def _get(self, request: TokenRequest, authority: str, url: str, what: str) -> requests.Response:
        reply = self._send(request, authority, "GET", url, what)
        if reply.is_redirect:
            location = reply.headers.get("Location", "")
            raise self._error(
                request,
                authority,
                f"Could not read {what} at {url}: it answered HTTP {reply.status_code}, a redirect to {location}, "
                "which is not followed (a redirect could lead the sign-in to another server). Point the "
                "configuration at the document's own https URL.",
            )
        if reply.status_code != 200:
            raise self._error(request, authority, f"Could not read {what} at {url}: HTTP {reply.status_code}.")
        return reply

    def _send(
        self, request: TokenRequest, authority: str, method: str, url: str, what: str, **kwargs: Any
    ) -> requests.Response:
        """One request, never following a redirect; a failure to get a reply (or one too large) as our error."""
        try:
            return self._session.request(method, url, timeout=self._timeout, allow_redirects=False, **kwargs)
        except http_limits.ReplyTooLargeError as exc:
            raise self._error(request, authority, f"Could not use the reply of {what}: {exc}.") from None
        except requests.RequestException as exc:
            raise self._unreachable(request, authority, what, url, exc) from None

    def _unreachable(
        self, request: TokenRequest, authority: str, what: str, url: str, exc: Exception
    ) -> AzureServiceTokenProviderError:
        if isinstance(exc, (http_limits.DeadlineExceededError, http_limits.PlainHttpRefusedError)):
            return self._error(request, authority, f"Could not get an answer from {what}: {exc}.")
        return self._error(
            request,
            authority,
            f"Could not reach {what} at {url}: {type(exc).__name__}. Check the network, proxy and the "
            "trusted certificates (REQUESTS_CA_BUNDLE).",
        )

    def _error(self, request: TokenRequest, authority: str, reason: str) -> AzureServiceTokenProviderError:
        return AzureServiceTokenProviderError(
            _PREFIX + reason, resource=request.resource, authority=authority, method=self.name
        )


def upn_for_principal(principal: str) -> str:
    """``alice@CONTOSO.COM`` -> ``alice@contoso.com``: Active Directory's implicit UPN for a domain user."""
    user, _, realm = principal.rpartition("@")
    return f"{user}@{realm.lower()}" if user else principal


def _os_environ() -> Mapping[str, str]:
    import os

    return os.environ


def _import_spnego(request: TokenRequest, authority: str, method: str) -> Any:
    try:
        import spnego

        if sys.platform != "win32":
            import gssapi  # noqa: F401 - pyspnego falls back to its own NTLM without it; Kerberos needs it
    except ImportError:
        raise SourceUnavailableError(
            f"{_PREFIX}Integrated Windows authentication needs Kerberos support: pip install 'appauth[kerberos]' "
            "(pyspnego and gssapi; on Debian/Ubuntu build gssapi with libkrb5-dev installed).",
            resource=request.resource,
            authority=authority,
            method=method,
        ) from None
    return spnego


def _kerberos_principal(request: TokenRequest, authority: str, method: str) -> str:
    """The default principal of the Kerberos credential cache, if it holds a ticket still valid. Local only."""
    import gssapi
    from gssapi.raw.misc import GSSError

    try:
        credentials = gssapi.Credentials(usage="initiate")
        principal = str(credentials.name)
        lifetime = credentials.lifetime
    except GSSError as exc:
        expired = isinstance(exc, gssapi.exceptions.ExpiredCredentialsError)
        raise SourceUnavailableError(
            f"{_PREFIX}{'The Kerberos ticket has expired' if expired else 'No Kerberos ticket'} for the current "
            "user: run `kinit user@REALM` (or sign in to the domain) first, then try again. "
            f"({_gss_reason(exc)})",
            resource=request.resource,
            authority=authority,
            method=method,
        ) from None
    if lifetime is not None and lifetime <= 0:
        raise SourceUnavailableError(
            f"{_PREFIX}The Kerberos ticket of {principal} has expired: run `kinit {principal}` again.",
            resource=request.resource,
            authority=authority,
            method=method,
        )
    return principal


def _gss_text(exc: BaseException) -> str:
    minor = getattr(exc, "gen_message", None)
    try:
        text = str(minor()) if callable(minor) else str(exc)
    except Exception:
        text = str(exc)
    return " ".join(text.split())


_GSS_STATUS = re.compile(r"\b(?:Major|Minor) \(\d+\): ")  # how python-gssapi prefixes each status's words


def _gss_reason(exc: BaseException) -> str:
    """GSSAPI's (or SSPI's) own words for the failure, without the major and minor status codes, which are
    logged at DEBUG only: the user needs the reason, support may need the numbers. The minor status is the
    specific one ("No Kerberos credentials available ..."), the major one generic."""
    text = _gss_text(exc)
    logger.debug("Integrated Windows authentication: GSSAPI said: %s", text)
    parts = [part.strip(" ,") for part in _GSS_STATUS.split(text)]
    return next((part for part in reversed(parts) if part), text)


def _kerberos_failure(exc: Exception, host: str) -> str:
    base = getattr(exc, "base_error", None) or exc
    minor = getattr(base, "min_code", None)
    winerror = getattr(base, "winerror", None)
    text = _gss_text(base)
    reason = _gss_reason(base)
    if (
        minor in (_KDC_UNREACHABLE, _KDC_UNREACHABLE & 0xFFFFFFFF)
        or winerror == _SSPI_NO_AUTHORITY
        or ("Cannot contact any KDC" in text)
    ):
        return (
            f"Could not reach a Kerberos KDC (domain controller) to get a ticket for HTTP/{host}: check the "
            "network or VPN to the domain, and the realm's kdc entries in krb5.conf. "
            f"({reason})"
        )
    if minor in (_SERVER_UNKNOWN, _SERVER_UNKNOWN & 0xFFFFFFFF) or "not found in Kerberos database" in text:
        return (
            f"The KDC knows no service principal HTTP/{host} for the federation server: its administrator must "
            f"register that SPN for the ADFS service account (setspn -S HTTP/{host} <account>). ({reason})"
        )
    return f"Kerberos could not make a ticket for the federation server HTTP/{host}: {reason}"


def _negotiate_reply(header: str) -> bytes | None:
    for part in header.split(","):
        scheme, _, value = part.strip().partition(" ")
        if scheme.lower() == "negotiate" and value.strip():
            try:
                return base64.b64decode(value.strip())
            except ValueError:
                return None
    return None


if sys.platform == "win32":

    def _windows_upn() -> str | None:
        import ctypes

        name_user_principal = 8
        secur32 = ctypes.WinDLL("secur32")
        size = ctypes.c_ulong(0)
        secur32.GetUserNameExW(name_user_principal, None, ctypes.byref(size))
        if not size.value:
            return None
        buffer = ctypes.create_unicode_buffer(size.value)
        if not secur32.GetUserNameExW(name_user_principal, buffer, ctypes.byref(size)):
            return None
        return buffer.value or None

else:

    def _windows_upn() -> str | None:
        return None
