"""Key Vault's answers (and the network's failures on the way to it) as appauth's errors, with the advice for
what failed: a TLS certificate this machine does not trust names the CA bundle in use, a refused connection
the vault URL's host and port, a name that does not resolve the vault's name and the vault suffix, a 403 the
role to grant and to whom, a 404 the name rules. A setting the advice names is spelled as the user wrote it
(``VaultAdvice.spell``, see ``setting_names``), and is the error's ``setting``.

Key Vault's own messages never contain a secret value; what the network stack says is quoted by its reason
only (host, port and OpenSSL's or the resolver's words), never with a URL's query or a header.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions
from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from .._internal.http_trust import CERT_HAS_EXPIRED, HOSTNAME_MISMATCH, ca_bundle_advice
from .._internal.http_trust import causes as all_causes
from .._internal.setting_names import setting_name
from ..errors import (
    KeyVaultError,
    KeyVaultUnavailableError,
    SecretAccessDeniedError,
    SecretDisabledError,
    SecretNotFoundError,
)
from ..tokens._result import Principal
from ..tokens._vault_hosts import VaultOrigin, suffix_pattern
from ._references import DEFAULT_VAULT_SUFFIX, SecretRef

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
ROLE = "Key Vault Secrets User"


@dataclass(frozen=True)
class VaultAdvice:
    """What advice may name: ``spell``, the adapter's spelling of settings (None: constructor arguments);
    ``default_vault`` and ``vault_suffix``, to tell which setting a vault's address came from."""

    spell: str | None = None
    default_vault: VaultOrigin | None = None
    vault_suffix: str = DEFAULT_VAULT_SUFFIX

    def setting(self, key: str) -> str:
        return setting_name(key, self.spell)

    def address_setting(self, origin: VaultOrigin) -> str | None:
        """The setting a vault's address came from: the vault URL, a suffix the app set, or neither (a
        reference's ``SecretUri``, or ``VaultName=`` under Azure's own suffix)."""
        if origin == self.default_vault:
            return self.setting("KEY_VAULT_URL")
        if self.vault_suffix != DEFAULT_VAULT_SUFFIX and _under(self.vault_suffix, origin):
            return self.setting("VAULT_SUFFIX")
        return None


def _under(vault_suffix: str, origin: VaultOrigin) -> bool:
    try:
        return suffix_pattern(vault_suffix).matches(origin)
    except ValueError:
        return False


def translate_error(exc: Exception, ref: SecretRef, advice: VaultAdvice | None = None) -> KeyVaultError:
    """Key Vault's answer (or the failure to get one) as one of our errors, naming the secret and the vault."""
    advice = advice or VaultAdvice()
    context: dict[str, Any] = {"vault_url": ref.vault_url, "secret_name": ref.name, "version": ref.version}
    what = f"secret {ref.name!r}" + (f" version {ref.version!r}" if ref.version else "") + f" in {ref.vault_url}"
    if isinstance(exc, ResourceNotFoundError):
        return _not_found(exc, ref, what, context)
    if isinstance(exc, ClientAuthenticationError):
        tenant = _principal(exc).tenant_id
        return SecretAccessDeniedError(
            f"Key Vault refused the token of {_who(exc)} for {what} (401: {_service_message(exc)}); check that the "
            f"identity's tenant{f' ({tenant})' if tenant else ''} is the vault's tenant (a vault accepts tokens of "
            "its own directory only) and that the cloud (AzureAdInstance) is the vault's",
            status=401,
            **context,
        )
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        return _from_status(exc, exc.status_code, what, context)
    if isinstance(exc, ValueError):  # SecretClient's challenge-resource check, or a reply it could not read
        reason = str(exc) or "Key Vault answered with a reply that could not be read"
        return KeyVaultError(f"{what}: {reason}", **context)
    return _no_answer(exc, ref.origin, what, context, advice)


# --- Key Vault answered ------------------------------------------------------------------------------------


def _not_found(exc: ResourceNotFoundError, ref: SecretRef, what: str, context: dict[str, Any]) -> KeyVaultError:
    missing = f"There is no version {ref.version} of that secret" if ref.version else "There is no secret by that name"
    return SecretNotFoundError(
        f"{what} was not found (404: {_service_message(exc)}). {missing} in this vault: check the name and the "
        "vault. Key Vault names are 1-127 letters, digits and dashes, compared without case, so a name such as "
        "DB_PASSWORD is written db-password; a secret deleted lately is listed by az keyvault secret list-deleted.",
        status=404,
        **context,
    )


def _from_status(exc: HttpResponseError, status: int, what: str, context: dict[str, Any]) -> KeyVaultError:
    code = _inner_code(exc)
    if status == 403 and code == "SecretDisabled":
        return SecretDisabledError(f"{what} is disabled (403 SecretDisabled)", status=status, **context)
    if status == 403:
        return SecretAccessDeniedError(
            f"the identity may not read {what} (403: {_service_message(exc)}). {_how_to_allow(exc, code)}",
            status=status,
            **context,
        )
    if status in TRANSIENT_STATUSES:
        retry_after = retry_after_seconds(exc)
        hint = f"; Retry-After {retry_after:.0f} s" if retry_after is not None else ""
        return KeyVaultUnavailableError(
            f"{what} could not be read: Key Vault answered {status} after retries{hint}",
            status=status,
            retry_after=retry_after,
            **context,
        )
    return KeyVaultError(f"{what}: Key Vault answered {status} ({_service_message(exc)})", status=status, **context)


def _how_to_allow(exc: HttpResponseError, code: str | None) -> str:
    """A 403's fix: the vault's firewall, or the role (or access policy) for the identity whose token it was."""
    if code == "ForbiddenByFirewall":
        return (
            "The vault's firewall refuses this machine's address: allow it in the vault's Networking settings, or "
            "reach the vault through a private endpoint."
        )
    principal = _principal(exc)
    assignee = principal.object_id or principal.app_id or principal.user_principal_name or "<its object ID>"
    return (
        f"Give {_who(exc)} the '{ROLE}' role on the vault (az role assignment create --role \"{ROLE}\" --assignee "
        f"{assignee} --scope <the vault's resource ID>), or, on a vault that uses access policies, the secret "
        f"permission 'get' (az keyvault set-policy --name <vault> --object-id {assignee} --secret-permissions get)."
    )


def bearer_token(exc: HttpResponseError) -> str | None:
    """The bearer token of the request Key Vault answered, if it carried one."""
    request = getattr(exc.response, "request", None)
    headers: Mapping[str, str] = getattr(request, "headers", None) or {}
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _principal(exc: HttpResponseError) -> Principal:
    token = bearer_token(exc)
    return Principal.from_token(token) if token else Principal("App", is_authenticated=False)


def _who(exc: HttpResponseError) -> str:
    """The identity whose token Key Vault refused, as its claims name it (never the token)."""
    principal = _principal(exc)
    object_id = f" (object ID {principal.object_id})" if principal.object_id else ""
    if principal.user_principal_name:
        return f"the user {principal.user_principal_name}{object_id}"
    if principal.app_id:
        return f"the app {principal.app_id}{object_id}"
    return "the app's identity"


def _inner_code(exc: HttpResponseError) -> str | None:
    error = exc.error
    inner = getattr(error, "innererror", None) if error is not None else None
    code = inner.get("code") if isinstance(inner, dict) else None
    return code if isinstance(code, str) else None


def _service_message(exc: AzureError) -> str:
    error = getattr(exc, "error", None)
    code, message = getattr(error, "code", None), getattr(error, "message", None)
    if code or message:
        return f"{code}: {message}" if code and message else str(code or message)
    return type(exc).__name__


def retry_after_seconds(exc: HttpResponseError) -> float | None:
    """The server's wait hint: ``retry-after-ms`` / ``x-ms-retry-after-ms`` or ``Retry-After`` (seconds or
    an HTTP date), as azure-core reads them."""
    response: Any = exc.response
    headers: Mapping[str, str] = response.headers if response is not None else {}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(float(value) / 1000.0, 0.0)
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max((when - dt.datetime.now(dt.timezone.utc)).total_seconds(), 0.0)


def not_a_secret(ref: SecretRef, why: str) -> KeyVaultError:
    """A 200 whose body is not a secret bundle: a proxy's page, or a vault misbehaving. Never served as a value
    (an empty string would become a password)."""
    return KeyVaultError(
        f"secret {ref.name!r} in {ref.vault_url}: Key Vault answered 200 but not with a secret ({why}); a proxy "
        "or the vault is misbehaving",
        vault_url=ref.vault_url,
        secret_name=ref.name,
        version=ref.version,
        status=200,
    )


# --- no answer: what failed on the way ---------------------------------------------------------------------


def _no_answer(
    exc: Exception, origin: VaultOrigin, what: str, context: dict[str, Any], advice: VaultAdvice
) -> KeyVaultUnavailableError:
    """TLS, DNS, a refused connection, a proxy, a timeout: each its own advice; anything else as it was said."""
    where = f"{origin.host}:{origin.port}"
    setting = advice.address_setting(origin)
    causes = list(all_causes(exc))
    verify = _first(causes, ssl.SSLCertVerificationError)
    if verify is not None:
        problem, setting = _untrusted(verify, where, setting)
    elif _first(causes, urllib3.exceptions.ProxyError) is not None:  # first: the proxy's own failure is in it
        problem, setting = "the proxy on the way could not be used: check HTTPS_PROXY (and NO_PROXY)", "HTTPS_PROXY"
    elif (tls := _first(causes, ssl.SSLError)) is not None:
        problem = (
            f"the TLS handshake with {where} failed ({tls.reason or tls}): a proxy or firewall on the way may be "
            "interfering, or this address is not a Key Vault"
        )
    elif (dns := _first(causes, socket.gaierror)) is not None:
        problem = (
            f"the host name {origin.host} does not resolve ({dns.strerror or dns}): {_name_advice(origin, advice)}"
        )
    elif _first(causes, ConnectionRefusedError) is not None:
        problem = (
            f"nothing accepts connections at {where} (connection refused). Check the host and port in "
            f"{setting or 'the reference'}, and that no firewall or proxy is in the way"
        )
    elif _first(causes, requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError) is not None:
        problem = f"no answer from {where} in time: check the network to the vault, or try again later"
    else:
        problem, setting = f"Key Vault did not answer ({type(exc).__name__}: {exc})", None
    return KeyVaultUnavailableError(f"{what} could not be read: {problem}", setting=setting, **context)


def _untrusted(error: ssl.SSLCertVerificationError, where: str, address_setting: str | None) -> tuple[str, str | None]:
    reason = ": ".join(part for part in (error.reason, error.verify_message) if part) or str(error)
    if error.verify_code == HOSTNAME_MISMATCH:
        return (
            f"the TLS certificate at {where} is not for that host ({reason}): check the host in "
            f"{address_setting or 'the reference'}"
        ), address_setting
    if error.verify_code == CERT_HAS_EXPIRED:
        return (
            f"the TLS certificate at {where} has expired ({reason}): check this machine's clock, and any proxy on "
            "the way that inspects TLS"
        ), None
    bundle, variable = ca_bundle_advice("the vault")
    return f"the TLS connection to {where} failed, its TLS certificate is not trusted ({reason}). {bundle}", variable


def _name_advice(origin: VaultOrigin, advice: VaultAdvice) -> str:
    if origin == advice.default_vault:
        where = f"in {advice.setting('KEY_VAULT_URL')}"
    else:
        where = (
            f"in the reference (VaultName= references resolve under {advice.setting('VAULT_SUFFIX')} "
            f"({advice.vault_suffix!r}))"
        )
    return (
        f"check the vault's name {where}, and that this machine's DNS resolves it (a vault behind a private "
        "endpoint needs its privatelink DNS zone)"
    )


def _first(causes: list[BaseException], *types: type[BaseException]) -> Any:
    return next((cause for cause in causes if isinstance(cause, types)), None)
