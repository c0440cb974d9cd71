"""Which token source a provider uses: the one a connection string names, or the default chain.

Default chain (no connection string): .NET's, with azure-identity's environment service principal after the
managed identity: managed identity (AKS workload identity instead when its token file is announced) → the
service principal that ``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID`` and ``AZURE_CLIENT_SECRET`` (or
``AZURE_CLIENT_CERTIFICATE_PATH``) name, at ``AZURE_AUTHORITY_HOST`` (``sources/environment``) → Visual Studio
(on Windows only) → Azure CLI → integrated Windows authentication (the signed-in domain user; unavailable at
once, with no network call, without a Kerberos ticket or the kerberos extra).

Only a method that is not available here moves the chain on (``chain``): a managed identity the
environment announces (App Service, Arc, Cloud Shell, Service Fabric variables, workload identity's token
file) that fails makes the call fail and is asked again on the next one, never traded for a developer's
sign-in. Visual Studio is left out elsewhere than on Windows because its token provider file sits in the
home folder, which on a server other accounts may be able to write (and Visual Studio does not run there);
the error when nothing works says so in one line.

Why the environment's service principal comes after the managed identity, where azure-identity puts it first
(and .NET never reads these variables): where Azure gives the app an identity, that is the identity it is
meant to run as, and these variables are easily there by accident (a ``.env`` file copied into an image, a
pipeline's variables inherited by the app, another tool's configuration). First, they would silently take
an App Service's or a VM's place, and a service principal's secret (or its role assignments) would decide
what the app may do instead of the identity the platform manages. After it, they sign in only where no
managed identity answers (a CI runner, a container or server outside Azure, a laptop), and since a
managed identity the environment announces never moves the chain on, no failure of one can hand the app to
them either. To use a service principal where a managed identity exists, name it in the connection string
(``RunAs=App;AppId=...;TenantId=...;AppKey=...``): an explicit choice that wins over the chain. The cost is
the IMDS probe (1 s at most, and once per back-off) before them off Azure. They come before the developer
tools because they are set for this process, where ``az login`` is the machine's sign-in (azure-identity's
order too). A credential in them without the app or tenant fails the call rather than fall through to a
developer's sign-in; ``AZURE_CLIENT_ID`` alone (azure-identity's user-assigned managed identity) is no
service principal and moves the chain on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType

from .._internal.setting_names import setting_name
from ._connection_string import ConnectionSettings, Source
from .sources._azure_cli import AzureCliSource
from .sources._base import TokenSource
from .sources._chain import ChainedSource
from .sources._environment import environment_source
from .sources._environment_variables import HOW_TO_SET
from .sources._integrated_windows import IntegratedWindowsSource
from .sources._managed_identity import ManagedIdentitySource
from .sources._visual_studio import PLATFORM, VisualStudioSource

# The service-principal and workload-identity sources need msal, cryptography and the Key Vault SDK; they
# are imported when a connection string asks for them, so an app on managed identity or the Azure CLI
# does not pay for those imports.

WORKLOAD_IDENTITY_VARIABLES = ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID")


def _managed_identity(
    client_id: str | None, retry_timeout: float | None, environ: Mapping[str, str], *, probe: bool
) -> TokenSource:
    """AKS workload identity when its variables are all there (the identity a pod has), else the host's
    managed-identity endpoint. A token file without the other variables (and no client id asked for) is a
    half-configured workload identity: it fails every call rather than fall back to the node's identity."""
    if all((environ.get(name) or "").strip() for name in WORKLOAD_IDENTITY_VARIABLES):
        from .sources._workload_identity import WorkloadIdentitySource

        source = WorkloadIdentitySource.from_environment(environ)
        if client_id is None or client_id.lower() == source.client_id.lower():
            return source
    elif client_id is None and (environ.get("AZURE_FEDERATED_TOKEN_FILE") or "").strip():
        from .sources._workload_identity import IncompleteWorkloadIdentitySource

        return IncompleteWorkloadIdentitySource(environ)
    return ManagedIdentitySource(client_id, retry_timeout=retry_timeout, environ=environ, probe=probe)


def default_chain(
    environ: Mapping[str, str] | None = None, *, retry_timeout: float | None = None, spell: str | None = None
) -> ChainedSource:
    """The chain for a provider without a connection string (see the module docstring for the order).
    ``spell``: how its error names the connection-string setting (``setting_names``)."""
    env = os.environ if environ is None else environ
    sources: list[TokenSource] = [_managed_identity(None, retry_timeout, env, probe=True), environment_source(env)]
    windows = sys.platform == "win32"
    if windows:
        sources.append(VisualStudioSource(environ=env))
    sources += [AzureCliSource(environ=env), IntegratedWindowsSource(environ=env)]
    not_here = None if windows else f"Not on {PLATFORM}: Visual Studio (Windows only)"
    return ChainedSource(sources, not_here=not_here, advice=_advice(spell))


def _advice(spell: str | None) -> str:
    return (
        f"Sign in locally with `az login`, run in Azure with a managed identity, {HOW_TO_SET} for a service "
        f"principal, or give a connection string in {setting_name('CONNECTION_STRING', spell)} or the "
        "AzureServicesAuthConnectionString environment variable (e.g. RunAs=App;AppId=...;TenantId=...;AppKey=...)."
    )


def source_for(settings: ConnectionSettings, environ: Mapping[str, str] | None = None) -> TokenSource:
    """The token source the connection string selects (``ConnectionSettings.source``), built by its entry in
    ``BUILDERS``."""
    env = os.environ if environ is None else environ
    retry_timeout = float(settings.msi_retry_timeout) if settings.msi_retry_timeout is not None else None
    return BUILDERS[settings.source](settings, env, retry_timeout)


# How each source a connection string can select is built: (settings, environment, MsiRetryTimeout) -> source.
Builder = Callable[[ConnectionSettings, Mapping[str, str], "float | None"], TokenSource]


def _azure_cli(settings: ConnectionSettings, env: Mapping[str, str], retry_timeout: float | None) -> TokenSource:
    return AzureCliSource(environ=env)


def _visual_studio(settings: ConnectionSettings, env: Mapping[str, str], retry_timeout: float | None) -> TokenSource:
    return VisualStudioSource(environ=env)


def _current_user(settings: ConnectionSettings, env: Mapping[str, str], retry_timeout: float | None) -> TokenSource:
    return IntegratedWindowsSource(environ=env)


def _managed_identity_of(
    settings: ConnectionSettings, env: Mapping[str, str], retry_timeout: float | None
) -> TokenSource:
    return _managed_identity(settings.app_id, retry_timeout, env, probe=False)


def _client_secret(settings: ConnectionSettings, env: Mapping[str, str], retry_timeout: float | None) -> TokenSource:
    from .sources._client_secret import ClientSecretSource

    assert settings.app_id is not None
    assert settings.tenant_id is not None
    assert settings.app_key is not None
    return ClientSecretSource(settings.app_id, settings.tenant_id, settings.app_key)


def _certificate(settings: ConnectionSettings, env: Mapping[str, str], retry_timeout: float | None) -> TokenSource:
    from .sources._certificate import CertificateSource

    assert settings.app_id is not None
    assert settings.tenant_id is not None
    return CertificateSource(
        settings.app_id,
        settings.tenant_id,
        thumbprint=settings.certificate_thumbprint,
        subject_name=settings.certificate_subject_name,
        store_location=settings.certificate_store_location or "CurrentUser",
    )


def _key_vault_certificate(
    settings: ConnectionSettings, env: Mapping[str, str], retry_timeout: float | None
) -> TokenSource:
    from .sources._key_vault_certificate import KeyVaultCertificateSource

    assert settings.app_id is not None
    assert settings.key_vault_certificate_secret_identifier is not None
    # As .NET: the Key Vault token comes from a managed identity (a user-assigned one when named), else from
    # the developer's own sign-in.
    user_assigned = settings.key_vault_user_assigned_managed_identity_id
    vault_identity: TokenSource = (
        _managed_identity(user_assigned, retry_timeout, env, probe=False)
        if user_assigned
        else default_chain(env, retry_timeout=retry_timeout)
    )
    return KeyVaultCertificateSource(
        settings.app_id,
        settings.key_vault_certificate_secret_identifier,
        tenant_id=settings.tenant_id,
        vault_token_source=vault_identity,
    )


BUILDERS: Mapping[Source, Builder] = MappingProxyType(
    {
        "azure_cli": _azure_cli,
        "visual_studio": _visual_studio,
        "current_user": _current_user,
        "managed_identity": _managed_identity_of,
        "client_secret": _client_secret,
        "certificate": _certificate,
        "key_vault_certificate": _key_vault_certificate,
    }
)
