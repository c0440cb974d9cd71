"""Security classes of issue 14 (findings 8 and 10): replies with no end, secrets sent in clear or after a redirect,
tenant values that are path segments, client caches without a bound. One test per class:

- ``test_every_call_ends_by_its_deadline_and_reads_a_bounded_reply``: every HTTP token source (managed identity on
  every host and the default chain's IMDS probe, client secret, certificate, Key Vault certificate, workload
  identity, integrated Windows authentication) and ``KeyVaultSecrets.get`` against the emulator's ``drip`` fault
  (the whole reply one byte at a time, never quiet long enough for a read timeout; or, ``drip_body``, the headers
  at once and then the body so) and ``pad`` fault (the real reply followed by 64 MiB of JSON whitespace, chunked,
  so its size shows only while reading). The call must end within its deadline plus slack, in a typed error,
  with tracemalloc's peak far below the size of the reply. Deadlines here are 1 s: managed identity through
  ``MsiRetryTimeout=1``, Key Vault through its ``timeout`` option, the others through
  ``http_limits.DEFAULT_DEADLINE``.
- ``test_a_caller_waiting_for_another_callers_fetch_gives_up_at_the_deadline``: a token and a secret whose fetch
  is slow; the callers that wait for it get a typed error at the deadline while the fetch goes on and is cached.
- ``test_secrets_go_only_over_https_and_never_follow_a_redirect``: an OpenID configuration naming an http token
  endpoint, a user realm naming an http MEX URL, a MEX URL that redirects: foreign listeners must see nothing.
- ``test_tenant_values_that_are_path_segments_are_refused``: ``.`` and ``..`` wherever a tenant is given.
- ``test_client_caches_are_bounded``: per-tenant msal applications.

Integrated Windows authentication needs the real KDC of ``tests/kerberos`` (its ``kdc`` fixture, imported).
"""

from __future__ import annotations

import base64
import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from appauth_core import (
    AppAuthError,
    AzureServiceTokenProvider,
    InvalidRequestError,
    KeyVaultSecrets,
    SecretWaitTimeoutError,
    TokenWaitTimeoutError,
)
from appauth_core._internal import http_limits
from appauth_core.testing import AzureEmulator, ClientCertificate
from appauth_core.testing.emulator import SOURCE_SELECTING_VARIABLES
from appauth_core.tokens import TokenCache
from appauth_core.tokens.sources import _imds_probe as imds_probe
from appauth_core.tokens.sources import _managed_identity as managed_identity
from appauth_core.tokens.sources._base import TokenRequest, is_valid_tenant
from appauth_core.tokens.sources._confidential_client import MAX_APPS, ConfidentialClients, Credential
from appauth_core.tokens.sources._imds_probe import reset_imds_probe_cache
from appauth_core.tokens.sources._integrated_windows import IntegratedWindowsSource
from appauth_core.tokens.sources._managed_identity import ManagedIdentitySource
from tests.core.test_certificate_source import make_certificate, pfx_bytes, write_pfx
from tests.kerberos.conftest import Kdc, kdc  # noqa: F401 - the fixture, for integrated Windows authentication

from .support import ForeignListener, Outcome, bounded

VAULT = "https://vault.azure.net"
SECRET_NAME = "limits-secret"
DEADLINE = 1.0  # every call's deadline in this module (MsiRetryTimeout is whole seconds)
SLACK = 3.0  # what a loaded machine may add to it: scheduling, the emulator's own threads
LIMIT = 15.0  # the hang guard: a dripping reply takes minutes to send in full
DRIP = 0.05  # seconds between the bytes of a dripping reply: a token reply would take over a minute
PAD = 64 * 2**20  # bytes of padding after a real reply
MiB = 2**20
KERBEROS_VARIABLES = ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME")


# --- the module's emulator and the targets ---------------------------------------------------------------------


@dataclass
class Rig:
    """The module's emulator, set up for every target, and what the tests need to reach it."""

    em: AzureEmulator
    state: Path
    workload_client_id: str = ""
    certificate_app_id: str = ""
    certificate_thumbprint: str = ""
    vault_certificate_app_id: str = ""
    vault_certificate_id: str = ""
    kdc: Kdc | None = None
    domain: str = ""


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    state = tmp_path_factory.mktemp("limits")
    with AzureEmulator(state_dir=state / "emulator") as em, pytest.MonkeyPatch.context() as mp:
        for name in SOURCE_SELECTING_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("REQUESTS_CA_BUNDLE", str(em.ca_bundle_path))
        mp.setenv("SSL_CERT_FILE", str(em.ca_bundle_path))
        mp.setenv("APPAUTH_CERTIFICATE_STORE_CURRENTUSER", str(state / "store"))
        mp.setattr(managed_identity, "default_arc_key_dir", lambda: em.managed_identity.arc_key_dir)
        mp.setattr(http_limits, "DEFAULT_DEADLINE", DEADLINE)
        mp.setattr(imds_probe, "PROBE_CONNECT_TIMEOUT", DEADLINE / 2)  # the probe's deadline: both added up
        mp.setattr(imds_probe, "PROBE_READ_TIMEOUT", DEADLINE / 2)
        rig = Rig(em, state)
        em.vault.set_secret(SECRET_NAME, "limits-value")
        workload = em.register_app(federated_subject="system:serviceaccount:limits:web")
        rig.workload_client_id = workload.app_id
        (state / "federated-token").write_text(
            em.issue_federated_token("system:serviceaccount:limits:web", lifetime=7200)
        )
        certificate = make_certificate("limits-cert")
        rig.certificate_app_id = em.register_app(certificate=certificate).app_id
        rig.certificate_thumbprint = certificate.thumbprint_sha1
        write_pfx(state / "store", certificate)
        vault_certificate = make_certificate("limits-vault-cert")
        rig.vault_certificate_app_id = em.register_app(certificate=vault_certificate).app_id
        rig.vault_certificate_id = _store_pfx(em, vault_certificate, "limits-vault-cert")
        yield rig


def _store_pfx(em: AzureEmulator, certificate: ClientCertificate, name: str) -> str:
    """The certificate's PFX in the vault, as Key Vault keeps a certificate; its secret identifier."""
    value = base64.b64encode(pfx_bytes(certificate)).decode()
    version = em.vault.set_secret(name, value, content_type="application/x-pkcs12")
    return f"{em.vault.url}secrets/{name}/{version.version}"


@dataclass(frozen=True)
class Target:
    key: str
    endpoint: str  # the endpoint the fault goes to
    call: Callable[[Rig], Any]
    cap: int  # the reply size limit that applies there
    needs_kdc: bool = False
    times: int = 1  # requests the fault answers


def _msi(env: Callable[[AzureEmulator], dict[str, str]]) -> Callable[[Rig], Any]:
    def call(rig: Rig) -> Any:
        provider = AzureServiceTokenProvider(
            f"RunAs=App;MsiRetryTimeout={DEADLINE:.0f}", cache=TokenCache(), environ=env(rig.em)
        )
        return provider.get_access_token(VAULT)

    return call


def _client_secret(rig: Rig) -> Any:
    app = rig.em.app
    connection = f"RunAs=App;AppId={app.app_id};TenantId={rig.em.tenant_id};AppKey={app.secrets[0]}"
    return AzureServiceTokenProvider(connection, rig.em.authority, cache=TokenCache(), environ={}).get_access_token(
        VAULT
    )


def _certificate(rig: Rig) -> Any:
    connection = (
        f"RunAs=App;AppId={rig.certificate_app_id};TenantId={rig.em.tenant_id};"
        f"CertificateThumbprint={rig.certificate_thumbprint};CertificateStoreLocation=CurrentUser"
    )
    return AzureServiceTokenProvider(connection, rig.em.authority, cache=TokenCache(), environ={}).get_access_token(
        VAULT
    )


def _workload_identity(rig: Rig) -> Any:
    environ = {
        "AZURE_CLIENT_ID": rig.workload_client_id,
        "AZURE_TENANT_ID": rig.em.tenant_id,
        "AZURE_FEDERATED_TOKEN_FILE": str(rig.state / "federated-token"),
        "AZURE_AUTHORITY_HOST": rig.em.authority.rstrip("/"),
    }
    return AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=environ).get_access_token(VAULT)


def _vault_certificate(rig: Rig) -> Any:
    connection = (
        f"RunAs=App;AppId={rig.vault_certificate_app_id};TenantId={rig.em.tenant_id};"
        f"KeyVaultCertificateSecretIdentifier={rig.vault_certificate_id}"
    )
    provider = AzureServiceTokenProvider(
        connection, rig.em.authority, cache=TokenCache(), environ=rig.em.app_service_env()
    )
    return provider.get_access_token("https://storage.azure.com")


def _integrated_windows(rig: Rig) -> Any:
    assert rig.kdc is not None
    return IntegratedWindowsSource(upn=f"alice@{rig.domain}").get_token(
        TokenRequest(VAULT, authority_host=rig.em.authority)
    )


def _imds_probe(rig: Rig) -> Any:
    """The default chain's way in: IMDS probed first (its own short timeouts), then asked for a token."""
    reset_imds_probe_cache()
    source = ManagedIdentitySource(environ=rig.em.imds_env(), retry_timeout=DEADLINE, probe=True)
    try:
        return source.get_token(TokenRequest(VAULT))
    finally:
        source.close()
        reset_imds_probe_cache()


def _key_vault(rig: Rig) -> Any:
    provider = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=rig.em.app_service_env())
    options = {"timeout": DEADLINE, "retry_total": 1}
    with KeyVaultSecrets(rig.em.vault.url, provider, client_options=options) as secrets:
        return secrets.get(SECRET_NAME)


TOKEN_CAP = http_limits.TOKEN_REPLY_MAX_BYTES
VAULT_CAP = http_limits.VAULT_REPLY_MAX_BYTES
VAULT_GET = "keyvault.local.get_secret"
TARGETS = [
    Target("app-service", "mi.app_service", _msi(AzureEmulator.app_service_env), TOKEN_CAP),
    Target("app-service-2017", "mi.app_service_2017", _msi(AzureEmulator.app_service_2017_env), TOKEN_CAP),
    Target("imds", "mi.imds", _msi(AzureEmulator.imds_env), TOKEN_CAP),
    Target("imds-probe", "mi.imds", _imds_probe, TOKEN_CAP, times=2),  # the probe, then the token request
    Target("arc", "mi.arc", _msi(AzureEmulator.arc_env), TOKEN_CAP, times=2),  # the challenge (no body), the token
    Target("service-fabric", "mi.service_fabric", _msi(AzureEmulator.service_fabric_env), TOKEN_CAP),
    Target("cloud-shell", "mi.cloud_shell", _msi(AzureEmulator.cloud_shell_env), TOKEN_CAP),
    Target("client-secret", "entra.token", _client_secret, TOKEN_CAP),
    Target("certificate", "entra.token", _certificate, TOKEN_CAP),
    Target("workload-identity", "entra.token", _workload_identity, TOKEN_CAP),
    Target("key-vault-certificate", VAULT_GET, _vault_certificate, VAULT_CAP),
    Target("integrated-windows", "adfs.mex", _integrated_windows, http_limits.DOCUMENT_MAX_BYTES, needs_kdc=True),
    Target("key-vault", VAULT_GET, _key_vault, VAULT_CAP),
]
FAULTS = {"drip": {"drip": DRIP}, "drip-body": {"drip": DRIP, "drip_body": True}, "pad": {"pad": PAD}}


@pytest.fixture(scope="module", autouse=True)
def _kerberos_variables_restored() -> Iterator[None]:
    """The ``kdc`` fixture points the process's Kerberos variables at its realm for the rest of the run (its
    ticket, its keytab); the modules after this one must not find alice's ticket there."""
    saved = {name: os.environ.get(name) for name in KERBEROS_VARIABLES}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def federated(request: pytest.FixtureRequest, rig: Rig) -> Rig:
    """The rig with alice's domain federated with the emulator's ADFS over the real KDC."""
    if rig.kdc is None:
        rig.kdc = request.getfixturevalue("kdc")
        rig.domain = "limits.test"
        rig.em.federation.federate(rig.domain, rig.em.tenant_id, rig.kdc.keytab)
        rig.em.federation.add_user(f"alice@{rig.domain}", rig.kdc.principal)
    return rig


def _drain(em: AzureEmulator, endpoint: str) -> None:
    while em.faults.take(endpoint) is not None:
        pass


def _run(rig: Rig, target: Target, fault: str) -> tuple[Outcome, int]:
    """One call of ``target`` with ``fault`` on its endpoint: its outcome and tracemalloc's peak growth."""
    rig.em.faults.inject(target.endpoint, **FAULTS[fault], times=target.times)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        outcome = bounded(lambda: target.call(rig), LIMIT)
        grown = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
        _drain(rig.em, target.endpoint)
    return outcome, grown


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("target", TARGETS, ids=[t.key for t in TARGETS])
def test_every_call_ends_by_its_deadline_and_reads_a_bounded_reply(
    request: pytest.FixtureRequest, rig: Rig, target: Target, fault: str
) -> None:
    if target.needs_kdc:
        request.getfixturevalue("federated")
    outcome, grown = _run(rig, target, fault)
    print(f"{target.key}/{fault}: {outcome.seconds:.2f} s, peak +{grown / 1024:.0f} KiB, {outcome.error!r:.300}")
    assert outcome.finished, f"still running after {LIMIT:g} s"
    assert isinstance(outcome.error, AppAuthError), (
        f"not a typed error: {outcome.error!r} (value {outcome.value!r:.80})"
    )
    message = str(outcome.error)
    if fault.startswith("drip"):
        assert outcome.seconds <= DEADLINE + SLACK, f"ended after {outcome.seconds:.2f} s, deadline {DEADLINE:g} s"
        assert "deadline" in message.lower() or "MsiRetryTimeout" in message, message
    else:
        assert grown < 2 * MiB + 4 * target.cap, f"tracemalloc peak grew by {grown / MiB:.1f} MiB"
        assert "larger than" in message, message


# --- waiting for another caller's fetch ------------------------------------------------------------------------


def _wait_behind_a_slow_fetch(call: Callable[[], Any]) -> tuple[Outcome, Outcome, bool]:
    """The outcome of a leader, of a caller that came while it was fetching, and whether the leader was still at
    work when that caller returned."""
    leader = Outcome(finished=False)
    started = threading.Event()

    def lead() -> None:
        started.set()
        try:
            leader.value = call()
        except BaseException as exc:
            leader.error = exc
        leader.finished = True

    thread = threading.Thread(target=lead, daemon=True)
    thread.start()
    assert started.wait(5)
    time.sleep(0.3)  # the leader's request is at the emulator, which holds it
    waiter = bounded(call, LIMIT)
    still_fetching = thread.is_alive()
    thread.join(LIMIT)
    return leader, waiter, still_fetching


def test_a_caller_waiting_for_another_callers_fetch_gives_up_at_the_deadline(rig: Rig) -> None:
    em = rig.em
    held = 4.0  # the endpoint answers this late: past the deadline (1 s here), within the read timeout
    tokens = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=em.app_service_env())
    em.faults.inject("mi.app_service", delay=held)
    before = em.counters["mi.app_service"]
    leader, waiter, still_fetching = _wait_behind_a_slow_fetch(lambda: tokens.get_access_token(VAULT))
    assert still_fetching, "the waiter returned only when the fetch it waited for was over"
    assert isinstance(waiter.error, TokenWaitTimeoutError), repr(waiter.error)
    assert leader.error is None and leader.value
    assert tokens.get_access_token(VAULT) == leader.value  # the fetch went on, and was cached for everyone
    assert em.counters["mi.app_service"] - before == 1

    vault_tokens = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=em.app_service_env())
    vault_tokens.get_access_token(VAULT, tenant_id=em.tenant_id)  # no token fetch inside the wait below
    with KeyVaultSecrets(em.vault.url, vault_tokens, client_options={"read_timeout": 10}) as secrets:
        em.faults.inject(VAULT_GET, delay=held)
        leader, waiter, still_fetching = _wait_behind_a_slow_fetch(lambda: secrets.get(SECRET_NAME))
        assert still_fetching, "the waiter returned only when the read it waited for was over"
        assert isinstance(waiter.error, SecretWaitTimeoutError), repr(waiter.error)
        assert leader.error is None and leader.value == "limits-value"
        assert secrets.get(SECRET_NAME) == "limits-value"


# --- https only, no redirects ----------------------------------------------------------------------------------


def _discovery_document(em: AzureEmulator) -> dict[str, Any]:
    url = f"{em.authority}{em.tenant_id}/v2.0/.well-known/openid-configuration"
    document: dict[str, Any] = requests.get(url, verify=str(em.ca_bundle_path), timeout=10).json()
    return document


def test_secrets_go_only_over_https_and_never_follow_a_redirect(rig: Rig, federated: Rig) -> None:
    em = rig.em
    with ForeignListener() as plain, ForeignListener(tls=em.tls.server_context()) as tls:
        # An OpenID configuration that names a plain-http token endpoint: the client secret would go in clear.
        document = {**_discovery_document(em), "token_endpoint": f"{plain.url}{em.tenant_id}/oauth2/v2.0/token"}
        em.faults.inject("entra.discovery", status=200, body=document)
        outcome = bounded(lambda: _client_secret(rig), LIMIT)
        _drain(em, "entra.discovery")
        assert isinstance(outcome.error, AppAuthError), repr(outcome.error)
        assert "https" in str(outcome.error)
        assert plain.connections == [], "the token request went to a plain-http endpoint"

        # A user realm naming a plain-http MEX document, then a MEX URL that redirects elsewhere.
        for mex_url, listener in ((f"{plain.url}mex", plain), (None, tls)):
            if mex_url is None:
                em.faults.inject("adfs.mex", status=302, headers={"Location": f"{tls.url}mex"})
            else:
                realm = {"ver": "1.0", "account_type": "Federated", "federation_protocol": "WSTrust",
                         "federation_metadata_url": mex_url, "domain_name": federated.domain}  # fmt: skip
                em.faults.inject("entra.userrealm", status=200, body=realm)
            outcome = bounded(lambda: _integrated_windows(federated), LIMIT)
            _drain(em, "adfs.mex")
            _drain(em, "entra.userrealm")
            assert isinstance(outcome.error, AppAuthError), repr(outcome.error)
            assert listener.connections == [], f"the MEX request reached {listener.url}"
            assert ("https" if mex_url else "redirect") in str(outcome.error), str(outcome.error)


# --- tenant values ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", [".", ".."])
def test_tenant_values_that_are_path_segments_are_refused(rig: Rig, tenant: str) -> None:
    em = rig.em
    app = em.app
    assert not is_valid_tenant(tenant)
    before = em.counters["entra"]
    secret = f"RunAs=App;AppId={app.app_id};TenantId={em.tenant_id};AppKey={app.secrets[0]}"
    with pytest.raises(InvalidRequestError, match="tenant"):
        AzureServiceTokenProvider(secret, em.authority, cache=TokenCache(), environ={}).get_access_token(
            VAULT, tenant_id=tenant
        )
    in_connection_string = f"RunAs=App;AppId={app.app_id};TenantId={tenant};AppKey={app.secrets[0]}"
    with pytest.raises(AppAuthError, match="not a valid tenant"):
        AzureServiceTokenProvider(in_connection_string, em.authority, cache=TokenCache(), environ={}).get_access_token(
            VAULT
        )
    environ = {
        "AZURE_CLIENT_ID": rig.workload_client_id,
        "AZURE_TENANT_ID": tenant,
        "AZURE_FEDERATED_TOKEN_FILE": str(rig.state / "federated-token"),
        "AZURE_AUTHORITY_HOST": em.authority.rstrip("/"),
    }
    with pytest.raises(AppAuthError, match="not a valid tenant"):
        AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=environ).get_access_token(VAULT)
    with pytest.raises(AppAuthError, match="not a valid tenant"):
        IntegratedWindowsSource(upn="alice@limits.test").get_token(
            TokenRequest(VAULT, tenant_id=tenant, authority_host=em.authority)
        )
    assert em.counters["entra"] == before, "a request with a dot-segment tenant reached Entra ID"


# --- bounded client caches -------------------------------------------------------------------------------------


def test_client_caches_are_bounded(rig: Rig) -> None:
    em = rig.em
    clients = ConfidentialClients(em.app.app_id, "Service principal (client secret)")
    credential = Credential("secret", "client secret", em.app.secrets[0])
    request = TokenRequest(VAULT, authority_host=em.authority)
    tenants = [em.directory.add_tenant().tenant_id for _ in range(MAX_APPS + 8)]
    for tenant in tenants:  # the app is registered in none of them: Entra refuses, the msal app stays
        with pytest.raises(AppAuthError):
            clients.acquire(request, tenant, credential)
    assert len(clients) == MAX_APPS
    discoveries = em.counters["entra.discovery"]
    with pytest.raises(AppAuthError):
        clients.acquire(request, tenants[-1], credential)  # among the newest: kept
    assert em.counters["entra.discovery"] == discoveries
    with pytest.raises(AppAuthError):
        clients.acquire(request, tenants[0], credential)  # the oldest: dropped, built again
    assert em.counters["entra.discovery"] == discoveries + 1
    assert len(clients) == MAX_APPS
