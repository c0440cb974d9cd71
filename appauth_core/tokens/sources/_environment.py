"""azure-identity's ``EnvironmentCredential`` variables, read by the default chain: a service principal named by
``AZURE_CLIENT_ID`` and ``AZURE_TENANT_ID`` signing in with ``AZURE_CLIENT_SECRET``, or with the certificate
file ``AZURE_CLIENT_CERTIFICATE_PATH`` (PEM or PFX, opened with ``AZURE_CLIENT_CERTIFICATE_PASSWORD`` when it
has one), at ``AZURE_AUTHORITY_HOST`` for another cloud.

As azure-identity 1.x (``_credentials/environment.py``; research notes py_identity.md, section 1): the secret
wins when a certificate is named too; ``AZURE_AUTHORITY_HOST`` is https, or a host name read as https; the
username/password form, deprecated there, is not read. Where this differs, and why:

- A variable set to an empty string is not set (azure-identity counts it, then fails at the first call).
- A credential (a secret or a certificate file) without ``AZURE_CLIENT_ID`` or ``AZURE_TENANT_ID`` fails
  every call, naming what is missing (``IncompleteEnvironmentCredential``); azure-identity moves its chain on
  with a warning in the log. The app was meant to sign in as that service principal: moving on would hand
  it another identity (a developer's ``az login``), the rule the half-configured workload identity follows.
- Without a credential the variables are no service principal at all and the chain moves on
  (``NoEnvironmentCredential``): ``AZURE_CLIENT_ID`` alone is how azure-identity picks a user-assigned
  managed identity, and AKS workload identity sets it with ``AZURE_TENANT_ID``.

This module only reads the variables; the sources that sign in (msal, through the client-secret and
certificate machinery) are in ``_environment_credential``, imported when the variables name one, so an app
on a managed identity or the Azure CLI does not load msal.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ...errors import AzureServiceTokenProviderError, SourceUnavailableError
from ._base import SourceToken, TokenRequest, TokenSource
from ._environment_variables import (
    AUTHORITY_HOST,
    CERTIFICATE_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    HOW_TO_SET,
    METHOD,
    TENANT_ID,
    VARIABLES,
)


def environment_source(environ: Mapping[str, str]) -> TokenSource:
    """The source the variables in ``environ`` describe (see the module docstring for the rules)."""
    present = [name for name in VARIABLES if (environ.get(name) or "").strip()]
    credential = next((name for name in (CLIENT_SECRET, CERTIFICATE_PATH) if name in present), None)
    if credential is None:
        return NoEnvironmentCredential(present)
    missing = [name for name in (CLIENT_ID, TENANT_ID) if name not in present]
    if missing:
        return IncompleteEnvironmentCredential(
            f"{credential} is set but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not, so it "
            "does not say which app to sign in as. Not falling back to another identity (a developer's sign-in): "
            f"set {' and '.join(missing)}, or unset {credential}.",
            present,
        )
    try:
        authority = authority_host(environ.get(AUTHORITY_HOST) or "")
    except ValueError as problem:
        return IncompleteEnvironmentCredential(str(problem), present)
    from ._environment_credential import from_environment  # msal, cryptography: only when they will be used

    return from_environment(environ, credential, authority)


def authority_host(value: str) -> str | None:
    """``AZURE_AUTHORITY_HOST`` as ``https://host/`` (a bare host is read as https), None when unset;
    ``ValueError`` for anything but https, as azure-identity refuses it."""
    text = value.strip()
    if not text:
        return None
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            f"{AUTHORITY_HOST} {value.strip()!r} is not an https authority host: set it to the cloud's Entra ID host, "
            "e.g. login.microsoftonline.us (https is required: the secret or certificate assertion is sent there)."
        )
    return text.rstrip("/") + "/"


class NoEnvironmentCredential:
    """No service principal in the environment: unavailable, so the chain moves on; the reason says which
    variables would make one, and what the ones that are set mean instead."""

    name = METHOD

    def __init__(self, present: list[str]) -> None:
        self.present = tuple(present)
        self.cache_identity = "environment:none"

    def get_token(self, request: TokenRequest) -> SourceToken:
        if CLIENT_ID in self.present:
            reason = (
                f"{' and '.join(self.present)} {'is' if len(self.present) == 1 else 'are'} set, but neither "
                f"{CLIENT_SECRET} nor {CERTIFICATE_PATH}: not a service principal ({CLIENT_ID} alone is how "
                "azure-identity picks a user-assigned managed identity; here that is RunAs=App;AppId=<client ID>)."
            )
        else:
            reason = f"not configured ({HOW_TO_SET} for a service principal)."
        raise SourceUnavailableError(reason, resource=request.resource, method=self.name)


class IncompleteEnvironmentCredential:
    """A service principal the environment means but does not fully (or validly) describe: every call fails
    with ``problem``, so that no other identity is used instead."""

    name = METHOD

    def __init__(self, problem: str, present: list[str]) -> None:
        self.problem = problem
        self.cache_identity = "environment:incomplete:" + ",".join(present)

    def get_token(self, request: TokenRequest) -> SourceToken:
        raise AzureServiceTokenProviderError(
            f"The environment's service principal is not usable: {self.problem}",
            resource=request.resource,
            method=self.name,
        )
