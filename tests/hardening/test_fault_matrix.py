"""The fault matrix: every token source that talks HTTP, and Key Vault reads, against every way an endpoint can
fail, driven by the emulator's fault injection. Every case must end in a recovery or a typed error
(``AppAuthError``) within a bounded time: never a hang, a raw ``KeyError`` / ``JSONDecodeError``, or a secret
in what the caller sees (message, repr, traceback) or in the DEBUG log.

The matrix runs once per module (``matrix`` fixture) on an emulator of its own, one thread per endpoint
(faults and counters are per endpoint, so the groups cannot disturb each other); each case is then its own
test. ``test_reliability_table`` writes ``docs/RELIABILITY.md`` from the results.

Timeouts are short so that the whole matrix takes seconds: managed identity runs with ``MsiRetryTimeout``
(4 s when the fault happens once, 1 s when it persists) and 2 s connect/read timeouts, msal with a 2 s HTTP
timeout (and appauth's own retries below it: ``confidential_client.RETRIES`` for a 429 or 5xx, one for a
timeout), and ``SecretClient`` with one retry and 2 s timeouts. A "timeout" fault answers 3.5 s late.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from appauth_core import (
    AppAuthError,
    AzureServiceTokenProvider,
    KeyVaultSecrets,
)
from appauth_core.testing import AzureEmulator
from appauth_core.testing.emulator import SOURCE_SELECTING_VARIABLES
from appauth_core.tokens import TokenCache
from appauth_core.tokens.sources import _confidential_client as confidential_client
from appauth_core.tokens.sources import _managed_identity as managed_identity
from tests.canaries import CanaryRegistry, LoggedErrorScanner, scan_frame_locals, session_registry

from .load_servers import LOAD_SECTION_START
from .support import Outcome, bounded, closed_port

REPO = Path(__file__).resolve().parents[2]
RELIABILITY = REPO / "docs" / "RELIABILITY.md"

RESOURCE = "https://vault.azure.net"
OTHER_AUDIENCE = "https://management.azure.com"
SECRET_NAME = "matrix-secret"
AUDIENCE_VAULT = "audience"  # the vault the token sources' wrong-audience cases use (Key Vault's has faults)
FEDERATED_SUBJECT = "system:serviceaccount:matrix:web"

CLIENT_TIMEOUT = 2.0  # connect and read timeouts of every client in the matrix
LATE_BY = 3.5  # a "timeout" fault answers this late: beyond CLIENT_TIMEOUT
RETRY_TIMEOUT_ONCE = 4  # MsiRetryTimeout when the fault happens once: room for a timeout or a back-off (410: 2.5 s)
RETRY_TIMEOUT_PERSISTENT = 1  # MsiRetryTimeout when it persists
KEY_VAULT_OPTIONS = {"retry_total": 1, "connection_timeout": CLIENT_TIMEOUT, "read_timeout": CLIENT_TIMEOUT}
PERSISTENT_TIMES = 1000  # "every request", drained after the case
LIMIT = 20.0  # the hang guard: no case may take longer (a bound, not a performance target)
DEBUG_LOGGERS = ("appauth_core", "azure", "msal", "urllib3")


# --- faults ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    key: str
    title: str
    persistent: bool = True
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()


STATUS_FAULTS = [
    (404, "404"),
    (410, "410"),
    (429, "429 + Retry-After: 1"),
    (500, "500"),
    (503, "503"),
]
FAULTS: list[Fault] = [
    *(
        Fault(
            f"{status}-{'persistent' if persistent else 'once'}",
            f"{title}, {'persistent' if persistent else 'once'}",
            persistent,
            status,
            (("Retry-After", "1"),) if status == 429 else (),
        )
        for status, title in STATUS_FAULTS
        for persistent in (False, True)
    ),
    Fault("refused", "connection refused (closed port)"),
    Fault("timeout-once", f"timeout (answer {LATE_BY:g} s late), once", persistent=False),
    Fault("timeout-persistent", f"timeout (answer {LATE_BY:g} s late), persistent"),
    Fault("truncated-once", "truncated body, once", persistent=False),
    Fault("truncated-persistent", "truncated body, persistent"),
    Fault("non-json", "200 with a non-JSON body"),
    Fault("json-array", "200 with JSON of the wrong shape (an array)"),
    Fault("no-token", "200 with JSON without the token (or value)"),
    Fault("expired", "expired token served"),
    Fault("wrong-audience", "token for another audience"),
]


# --- targets -----------------------------------------------------------------------------------------------


@dataclass
class Setup:
    """How one case builds its provider (and, for Key Vault, its KeyVaultSecrets)."""

    connection_string: str
    environ: dict[str, str]
    azure_ad_instance: str | None = None
    vault_url: str | None = None


@dataclass
class Target:
    key: str
    title: str
    endpoint: str
    group: str  # targets sharing an endpoint run in one thread
    setup: Callable[[AzureEmulator, Fault, int | None], Setup]
    reply: Callable[[AzureEmulator, str, int], dict[str, Any]] | None = None  # a token reply in the dialect


def _msi(fault: Fault) -> str:
    return f"RunAs=App;MsiRetryTimeout={RETRY_TIMEOUT_PERSISTENT if fault.persistent else RETRY_TIMEOUT_ONCE}"


def _app_service(em: AzureEmulator, fault: Fault, closed: int | None) -> Setup:
    env = em.app_service_env()
    if closed:
        env["IDENTITY_ENDPOINT"] = f"http://127.0.0.1:{closed}/msi/token"
    return Setup(_msi(fault), env)


def _app_service_2017(em: AzureEmulator, fault: Fault, closed: int | None) -> Setup:
    env = em.app_service_2017_env()
    if closed:
        env["MSI_ENDPOINT"] = f"http://127.0.0.1:{closed}/msi/token"
    return Setup(_msi(fault), env)


def _cloud_shell(em: AzureEmulator, fault: Fault, closed: int | None) -> Setup:
    env = em.cloud_shell_env()
    if closed:
        env["MSI_ENDPOINT"] = f"http://127.0.0.1:{closed}/cloudshell/oauth2/token"
    return Setup(_msi(fault), env)


def _imds(em: AzureEmulator, fault: Fault, closed: int | None) -> Setup:
    env = em.imds_env()
    if closed:
        env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = f"http://127.0.0.1:{closed}"
    return Setup(_msi(fault), env)


def _arc(em: AzureEmulator, fault: Fault, closed: int | None) -> Setup:
    env = em.arc_env()
    if closed:
        base = f"http://127.0.0.1:{closed}/arc"
        env = {"IDENTITY_ENDPOINT": base + "/metadata/identity/oauth2/token", "IMDS_ENDPOINT": base}
    return Setup(_msi(fault), env)


def _service_fabric(em: AzureEmulator, fault: Fault, closed: int | None) -> Setup:
    env = em.service_fabric_env()
    if closed:
        env["IDENTITY_ENDPOINT"] = f"https://127.0.0.1:{closed}/metadata/identity/oauth2/token"
    return Setup(_msi(fault), env)


def _client_secret(em: AzureEmulator, fault: Fault, closed: int | None) -> Setup:
    app = em.app
    return Setup(
        f"RunAs=App;AppId={app.app_id};TenantId={em.tenant_id};AppKey={app.secrets[0]}",
        {},
        azure_ad_instance=f"https://127.0.0.1:{closed}/" if closed else em.authority,
    )


def _workload_identity(em: AzureEmulator, fault: Fault, closed: int | None) -> Setup:
    state = em.state_dir / "matrix"
    return Setup(
        "RunAs=App",
        {
            "AZURE_CLIENT_ID": (state / "client-id").read_text(),
            "AZURE_TENANT_ID": em.tenant_id,
            "AZURE_FEDERATED_TOKEN_FILE": str(state / "federated-token"),
            "AZURE_AUTHORITY_HOST": f"https://127.0.0.1:{closed}" if closed else em.authority.rstrip("/"),
        },
    )


def _key_vault(em: AzureEmulator, fault: Fault, closed: int | None) -> Setup:
    setup = _app_service(em, fault, None)
    setup.vault_url = f"https://127.0.0.1:{closed}/" if closed else em.vault.url
    return setup


def _app_service_reply(em: AzureEmulator, audience: str, lifetime: int) -> dict[str, Any]:
    token = em.issue_token(audience, identity=em.directory.system_identity, lifetime=lifetime)
    return {"access_token": token.access_token, "expires_on": str(token.expires_on), "resource": audience,
            "token_type": "Bearer", "client_id": em.directory.system_identity.client_id}  # fmt: skip


def _imds_reply(em: AzureEmulator, audience: str, lifetime: int) -> dict[str, Any]:
    token = em.issue_token(audience, identity=em.directory.system_identity, lifetime=lifetime)
    return {"access_token": token.access_token, "expires_in": str(lifetime), "expires_on": str(token.expires_on),
            "resource": audience, "token_type": "Bearer"}  # fmt: skip


def _service_fabric_reply(em: AzureEmulator, audience: str, lifetime: int) -> dict[str, Any]:
    token = em.issue_token(audience, identity=em.directory.system_identity, lifetime=lifetime)
    return {"token_type": "Bearer", "access_token": token.access_token, "expires_on": token.expires_on,
            "resource": audience}  # fmt: skip


def _entra_reply(app: Callable[[AzureEmulator], Any]) -> Callable[[AzureEmulator, str, int], dict[str, Any]]:
    def reply(em: AzureEmulator, audience: str, lifetime: int) -> dict[str, Any]:
        token = em.issue_token(audience, app=app(em), lifetime=lifetime)
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                "access_token": token.access_token}  # fmt: skip

    return reply


def _workload_app(em: AzureEmulator) -> Any:
    return em.directory.find_app((em.state_dir / "matrix" / "client-id").read_text())


TARGETS = [
    Target("app-service", "Managed identity: App Service", "mi.app_service", "app-service", _app_service,
           _app_service_reply),
    Target("app-service-2017", "Managed identity: App Service 2017-09-01", "mi.app_service_2017", "app-service-2017",
           _app_service_2017, _app_service_reply),
    Target("imds", "Managed identity: IMDS", "mi.imds", "imds", _imds, _imds_reply),
    Target("arc", "Managed identity: Azure Arc", "mi.arc", "arc", _arc, _imds_reply),
    Target("service-fabric", "Managed identity: Service Fabric", "mi.service_fabric", "service-fabric",
           _service_fabric, _service_fabric_reply),
    Target("cloud-shell", "Managed identity: Cloud Shell", "mi.cloud_shell", "cloud-shell", _cloud_shell,
           _imds_reply),
    Target("client-secret", "Service principal: client secret (Entra ID)", "entra.token", "entra", _client_secret,
           _entra_reply(lambda em: em.app)),
    Target("workload-identity", "AKS workload identity (Entra ID)", "entra.token", "entra", _workload_identity,
           _entra_reply(_workload_app)),
    Target("key-vault", "Key Vault: KeyVaultSecrets.get", "keyvault.local.get_secret", "key-vault", _key_vault),
]  # fmt: skip

CASES = [(target, fault) for target in TARGETS for fault in FAULTS]

# An error reply in each endpoint's own shape.
ERROR_BODIES: dict[str, Callable[[int], Any]] = {
    "app-service": lambda status: {"statusCode": status, "message": f"Injected {status}."},
    "app-service-2017": lambda status: {"statusCode": status, "message": f"Injected {status}."},
    "cloud-shell": lambda status: {"error": "injected", "error_description": f"Injected {status}."},
    "imds": lambda status: {"error": "injected", "error_description": f"Injected {status}."},
    "arc": lambda status: {"error": "injected", "error_description": f"Injected {status}."},
    "service-fabric": lambda status: {"error": {"code": "Injected", "message": f"Injected {status}."}},
    "entra": lambda status: {"error": "temporarily_unavailable", "error_codes": [50000],
                             "error_description": f"AADSTS50000: Injected {status}."},
    "key-vault": lambda status: {"error": {"code": "Injected", "message": f"Injected {status}."}},
}  # fmt: skip


def case_id(target: Target, fault: Fault) -> str:
    return f"{target.key}/{fault.key}"


# --- running one case --------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    target: Target
    fault: Fault
    outcome: Outcome
    requests: int
    log: str = ""
    value: str | None = None

    @property
    def error(self) -> BaseException | None:
        return self.outcome.error

    @property
    def summary(self) -> str:
        if not self.outcome.finished:
            return "HANG"
        return "recovered" if self.error is None else type(self.error).__name__

    def detail(self) -> str:
        """What the caller reads: the error's first line without .NET's boilerplate prefix, with the parts that
        change from run to run (ports, ids, times) blurred."""
        if self.error is None:
            return ""
        lines = str(self.error).strip().splitlines()
        first = _BOILERPLATE.sub("", lines[0] if lines else "")
        first = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", first)
        first = re.sub(r"port=\d+", "port=<port>", first)
        first = re.sub(r"IncompleteRead\(\d+ bytes read, \d+ more expected\)", "IncompleteRead(...)", first)
        first = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", first)
        first = re.sub(r"\d{4}-\d{2}-\d{2}[ T][\d:.]+Z?", "<time>", first)
        first = re.sub(r"\(\d+ s ago\)", "(<n> s ago)", first)
        return first if len(first) <= 150 else first[:147] + "..."


_BOILERPLATE = re.compile(r"^Tried to get token using [^.]*\. Access token could not be acquired\. ")


class ThreadLog(logging.Handler):
    """Log records kept per thread, so each case sees only what its own calls logged; the frame locals of an
    exception logged with its traceback are scanned when it is logged (``LoggedErrorScanner``)."""

    def __init__(self, canaries: CanaryRegistry) -> None:
        super().__init__(logging.DEBUG)
        self.lines: dict[int, list[str]] = defaultdict(list)
        self.everything: list[str] = []
        self.scanner = LoggedErrorScanner(canaries)
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(record.exc_info[1]))
        with self._lock:
            self.lines[record.thread or 0].append(text)
            self.everything.append(text)
            self.scanner.emit(record)

    def take(self, thread: int) -> str:
        with self._lock:
            return "\n".join(self.lines.pop(thread, []))


class Matrix:
    def __init__(self, emulator: AzureEmulator, log: ThreadLog, canaries: CanaryRegistry) -> None:
        self.em = emulator
        self.log = log
        self.canaries = canaries
        self.warm_providers: dict[str, AzureServiceTokenProvider] = {}

    def inject(self, target: Target, fault: Fault) -> None:
        times = PERSISTENT_TIMES if fault.persistent else 1
        endpoint, headers = target.endpoint, dict(fault.headers)
        if fault.key == "refused":
            return
        if fault.status is not None:
            body = ERROR_BODIES[target.group](fault.status)
            self.em.faults.inject(endpoint, status=fault.status, body=body, headers=headers, times=times)
        elif fault.key.startswith("timeout"):
            self.em.faults.inject(endpoint, delay=LATE_BY, times=times)
        elif fault.key.startswith("truncated"):
            self.em.faults.inject(endpoint, truncate=True, times=times)
        elif fault.key == "non-json":
            self.em.faults.inject(endpoint, status=200, garbage=True, times=times)
        elif fault.key == "json-array":
            self.em.faults.inject(endpoint, status=200, body=["access_token", "value"], times=times)
        elif fault.key == "no-token":
            self.em.faults.inject(endpoint, status=200, body=self._no_token_body(target), times=times)
        elif target.reply is None:  # Key Vault: the vault refuses the app's token, as the real one answers
            message = {
                "expired": "The access token has expired.",
                "wrong-audience": "AKV10022: Invalid audience. Expected https://vault.azure.net, found: "
                + OTHER_AUDIENCE
                + ".",
            }[fault.key]
            challenge = (
                f'Bearer authorization="{self.em.authority}{self.em.tenant_id}", resource="https://vault.azure.net"'
            )
            self.em.faults.inject(
                endpoint,
                status=401,
                body={"error": {"code": "Unauthorized", "message": message}},
                headers={"WWW-Authenticate": challenge},
                times=times,
            )
        else:
            audience, lifetime = (RESOURCE, -120) if fault.key == "expired" else (OTHER_AUDIENCE, 3599)
            body = target.reply(self.em, audience, lifetime)
            self.canaries.add(body["access_token"], f"token served by the {fault.key} fault")
            self.em.faults.inject(endpoint, status=200, body=body, times=times)

    def _no_token_body(self, target: Target) -> dict[str, Any]:
        if target.reply is None:
            return {"id": f"{self.em.vault.url}secrets/{SECRET_NAME}/{'0' * 32}", "attributes": {"enabled": True}}
        body = target.reply(self.em, RESOURCE, 3599)
        del body["access_token"]
        return body

    def drain(self, target: Target) -> None:
        while self.em.faults.take(target.endpoint) is not None:
            pass

    def run(self, target: Target, fault: Fault) -> CaseResult:
        closed = closed_port() if fault.key == "refused" else None
        setup = target.setup(self.em, fault, closed)
        caller: list[int] = []  # the thread bounded() runs the call on: its log lines are this case's

        def call() -> str:
            caller.append(threading.get_ident())
            self.log.take(caller[0])  # lines an earlier thread with the same id left (background work)
            return self._call(target, fault, setup)

        before = self.em.counters[target.endpoint]
        self.inject(target, fault)
        try:
            outcome = bounded(call, LIMIT)
        finally:
            self.drain(target)
        thread = caller[0] if caller else 0
        result = CaseResult(target, fault, outcome, self.em.counters[target.endpoint] - before, self.log.take(thread))
        if isinstance(outcome.value, str):
            result.value = outcome.value
        if result.value and len(result.value) >= 12:
            self.canaries.add(outcome.value, f"value returned by {case_id(target, fault)}")
        return result

    def _call(self, target: Target, fault: Fault, setup: Setup) -> str:
        if target.key == "key-vault":
            provider = self.warm_providers["key-vault"]
            assert setup.vault_url is not None
            with KeyVaultSecrets(setup.vault_url, provider, client_options=KEY_VAULT_OPTIONS) as secrets:
                return secrets.get(SECRET_NAME)
        provider = AzureServiceTokenProvider(
            setup.connection_string, setup.azure_ad_instance, cache=TokenCache(), environ=setup.environ
        )
        if fault.key == "wrong-audience":  # what the app sees: the token is opaque to it, the vault refuses it
            vault = self.em.vaults[AUDIENCE_VAULT].url
            with KeyVaultSecrets(vault, provider, client_options=KEY_VAULT_OPTIONS) as secrets:
                return secrets.get(SECRET_NAME)
        return provider.get_access_token(RESOURCE)


def _prepare(em: AzureEmulator, canaries: CanaryRegistry) -> str:
    """The vault secret, the workload-identity app and its federated token file; returns the vault value."""
    value = canaries.add(f"MatrixVaultValue{time.time_ns():x}{id(em):x}", "vault secret value")
    em.vault.set_secret(SECRET_NAME, value)
    em.add_vault(AUDIENCE_VAULT).set_secret(SECRET_NAME, value)
    state = em.state_dir / "matrix"
    state.mkdir(parents=True, exist_ok=True)
    app = em.register_app(federated_subject=FEDERATED_SUBJECT)
    federated = em.issue_federated_token(FEDERATED_SUBJECT, lifetime=7200)
    (state / "federated-token").write_text(federated)
    (state / "client-id").write_text(app.app_id)
    canaries.add(federated, "federated service-account token")
    for secret in em.app.secrets:
        canaries.add(secret, "client secret (AppKey)")
    canaries.add(em.managed_identity.identity_header, "IDENTITY_HEADER")
    canaries.add(em.managed_identity.service_fabric_secret, "Service Fabric secret")
    return value


@dataclass
class MatrixRun:
    results: dict[str, CaseResult] = field(default_factory=dict)
    canaries: CanaryRegistry = field(default_factory=CanaryRegistry)
    all_logs: str = ""
    logged_error_hits: list[str] = field(default_factory=list)
    vault_value: str = ""
    seconds: float = 0.0
    issuer: Any = None


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MatrixRun]:
    run = MatrixRun(canaries=session_registry(request.config))  # later tests' output is scanned for them too
    log = ThreadLog(run.canaries)
    with AzureEmulator(state_dir=tmp_path_factory.mktemp("matrix-emulator")) as em, pytest.MonkeyPatch.context() as mp:
        for name in SOURCE_SELECTING_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("REQUESTS_CA_BUNDLE", str(em.ca_bundle_path))
        mp.setenv("SSL_CERT_FILE", str(em.ca_bundle_path))
        mp.setattr(managed_identity, "default_arc_key_dir", lambda: em.managed_identity.arc_key_dir)
        mp.setattr(managed_identity.ManagedIdentitySource, "connect_timeout", CLIENT_TIMEOUT)
        mp.setattr(managed_identity.ManagedIdentitySource, "read_timeout", CLIENT_TIMEOUT)
        mp.setattr(confidential_client, "HTTP_TIMEOUT_SECONDS", CLIENT_TIMEOUT)
        run.vault_value = _prepare(em, run.canaries)
        run.issuer = em.issuer
        matrix = Matrix(em, log, run.canaries)
        # Key Vault's cases look at the vault: their provider holds a token from before any fault.
        warm = AzureServiceTokenProvider("RunAs=App", cache=TokenCache(), environ=em.app_service_env())
        run.canaries.add(warm.get_access_token(RESOURCE), "the Key Vault cases' token")
        warm.get_access_token(RESOURCE, tenant_id=em.tenant_id)  # SecretClient asks for the challenge's tenant
        matrix.warm_providers["key-vault"] = warm
        levels = {name: logging.getLogger(name).level for name in DEBUG_LOGGERS}
        for name in DEBUG_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
            logging.getLogger(name).addHandler(log)
        groups: dict[str, list[tuple[Target, Fault]]] = defaultdict(list)
        for target, fault in CASES:
            groups[target.group].append((target, fault))
        started = time.monotonic()
        try:
            with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="matrix") as pool:
                futures = [pool.submit(lambda cases: [matrix.run(*case) for case in cases], g) for g in groups.values()]
                for future in futures:
                    for result in future.result():
                        run.results[case_id(result.target, result.fault)] = result
        finally:
            run.seconds = time.monotonic() - started
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
                logging.getLogger(name).removeHandler(log)
        for key_file in em.managed_identity.arc_key_dir.glob("*.key"):
            run.canaries.add(key_file.read_text().strip(), "Azure Arc challenge key")
        run.all_logs = "\n".join(log.everything)
        run.logged_error_hits = list(log.scanner.hits)
        yield run


# --- what each case must end in --------------------------------------------------------------------------

MANAGED_IDENTITY = ("app-service", "app-service-2017", "imds", "arc", "service-fabric", "cloud-shell")
ENTRA = ("client-secret", "workload-identity")
# Faults appauth retries below msal (urllib3's Retry, confidential_client._TransientRetry): one recovers.
ENTRA_RETRIED = ("429", "500", "503", "timeout")
MALFORMED = ("non-json", "json-array", "no-token")


def expected(target: Target, fault: Fault) -> str:
    """``recovered``, or the name of the typed error the caller gets."""
    if fault.key == "wrong-audience":
        return "SecretAccessDeniedError"  # tokens are opaque to the app: the vault refuses it (AKV10022)
    if fault.key == "expired" and target.key != "key-vault":
        return "AzureServiceTokenProviderError"  # the provider refuses a token that expired on arrival
    if target.key in MANAGED_IDENTITY:
        if target.key == "service-fabric" and fault.key == "404-once":
            return "AzureServiceTokenProviderError"  # Service Fabric's guidance: a 404 is not retried
        return "AzureServiceTokenProviderError" if fault.persistent else "recovered"
    if target.key in ENTRA:
        if fault.key.startswith(ENTRA_RETRIED) and not fault.persistent:
            return "recovered"
        return "TokenEndpointError"  # 404, 410 and broken replies are not retried; persistent faults outlast it
    if fault.key.startswith("404"):
        return "SecretNotFoundError"
    if fault.key.startswith("410") or fault.key in MALFORMED:
        return "KeyVaultError"
    if fault.key == "expired":
        return "SecretAccessDeniedError"
    return "KeyVaultUnavailableError" if fault.persistent else "recovered"


# --- the cases ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "fault"), CASES, ids=[case_id(t, f) for t, f in CASES])
def test_case(matrix: MatrixRun, target: Target, fault: Fault) -> None:
    result = matrix.results[case_id(target, fault)]
    assert result.outcome.finished, f"{case_id(target, fault)} still running after {LIMIT:g} s: a hang"
    error = result.error
    if error is not None:
        assert isinstance(error, AppAuthError), "".join(traceback.format_exception(error))
        for text, where in ((str(error), "message"), (repr(error), "repr"),
                            ("".join(traceback.format_exception(error)), "traceback")):  # fmt: skip
            leaked = matrix.canaries.leaks(text)
            assert not leaked, f"{leaked} in the error's {where}: {text}"
        scan = scan_frame_locals(error, matrix.canaries)  # what an error tracker shows: every frame's locals
        assert scan.frames, "no frame of the error's traceback was scanned: the check would be vacuous"
        assert not scan.hits, "canaries in frame locals:\n" + "\n".join(map(str, scan.hits))
    leaked = matrix.canaries.leaks(result.log)
    assert not leaked, f"{leaked} in the DEBUG log of {case_id(target, fault)}"
    assert result.summary == expected(target, fault), str(error)
    if target.key in ENTRA and fault.key.startswith(ENTRA_RETRIED):  # the retries are bounded
        attempts = 2 if not fault.persistent or fault.key.startswith("timeout") else 1 + confidential_client.RETRIES
        assert result.requests == attempts, f"{result.requests} requests to the token endpoint"
    if error is None and target.key == "key-vault":
        assert result.value == matrix.vault_value
    elif error is None:
        assert matrix.issuer is not None and result.value is not None
        assert matrix.issuer.verify(result.value)["aud"] == RESOURCE


def test_nothing_secret_in_the_whole_log(matrix: MatrixRun) -> None:
    """Including what other threads logged (the emulator's own request lines, connection pools)."""
    assert matrix.all_logs, "the matrix logged nothing at DEBUG: the log check would be vacuous"
    # A case's own log is what its call's thread logged (background refreshes log on threads of their own).
    empty = [key for key, result in matrix.results.items() if not result.log]
    assert len(empty) < len(matrix.results) / 10, f"cases whose own DEBUG log is empty: {empty}"
    assert not matrix.canaries.leaks(matrix.all_logs)
    hits = matrix.logged_error_hits  # the frame locals of every exception logged with its traceback
    assert not hits, "canaries in the frame locals of a logged exception:\n" + "\n".join(hits)


# --- docs/RELIABILITY.md -----------------------------------------------------------------------------------

_TIME = re.compile(r"\b\d+\.\d\d s\b")


def render(run: MatrixRun) -> str:
    results = [run.results[case_id(target, fault)] for target, fault in CASES]
    recovered = sum(r.summary == "recovered" for r in results)
    typed = sum(isinstance(r.error, AppAuthError) for r in results)
    hung = sum(not r.outcome.finished for r in results)
    raw = sum(r.error is not None and not isinstance(r.error, AppAuthError) for r in results)
    unexpected = sum(r.summary != expected(r.target, r.fault) for r in results)
    intro = [
        "Generated by `tests/hardening/test_fault_matrix.py`, which runs in `make test`: do not edit by hand. "
        "The test rewrites this file when an outcome or a message changes (times and request counts alone do not "
        "count; they are from that run).",
        "Each token source that talks HTTP, and `KeyVaultSecrets.get`, against each way its endpoint can fail, "
        "driven by the local emulator's fault injection. *Once*: only the next request fails; *persistent*: every "
        "request does. A case must end in a recovery (a good token, or the secret's value) or in a typed error "
        f"(`AppAuthError`) within {LIMIT:g} s, with no secret in the error's message, repr or traceback, in the "
        "locals of any frame of its traceback chain, or in the DEBUG log of appauth, azure, msal and urllib3.",
        f"Settings: managed identity with `MsiRetryTimeout={RETRY_TIMEOUT_ONCE}` (once) or "
        f"`{RETRY_TIMEOUT_PERSISTENT}` (persistent); every client with {CLIENT_TIMEOUT:g} s connect and read "
        f"timeouts; `SecretClient` with one retry (`retry_total=1`); Entra ID's sources with appauth's own retries "
        f"below msal ({confidential_client.RETRIES} for a 429 or 5xx, 1 for a timeout). A timeout fault answers "
        f"{LATE_BY:g} s late. "
        "Key Vault's *expired* and *wrong audience* rows are the vault refusing the app's token (401 with a "
        "challenge); the token sources' *wrong audience* rows read a secret with that token, since a token is "
        "opaque to the app.",
        f"**{len(results)} cases: {recovered} recovered, {typed} typed errors, {hung} hangs, {raw} other "
        f"exceptions, {unexpected} unexpected outcomes.** Whole matrix: {run.seconds:.2f} s (one thread per "
        "endpoint).",
    ]
    lines = ["# Reliability: the fault matrix", ""]
    for paragraph in intro:
        lines += [paragraph, ""]
    lines += [
        "| Source | Fault | Outcome | Requests | Time | What the caller reads |",
        "|---|---|---|---:|---:|---|",
    ]
    for result in results:
        outcome = result.summary if result.summary in ("recovered", "HANG") else f"`{result.summary}`"
        detail = result.detail().replace("|", "\\|")
        lines.append(
            f"| {result.target.title} | {result.fault.title} | {outcome} | {result.requests} | "
            f"{result.outcome.seconds:.2f} s | {detail} |"
        )
    lines += [
        "",
        "Known gaps, by design or not yet handled:",
        "",
        "- Entra ID (client secret, certificate, workload identity): a 429, 5xx, refused connection or timeout is",
        f"  retried below msal (urllib3's `Retry`: at most {1 + confidential_client.RETRIES} attempts, 2 for a "
        "timeout or a failed connection), but",
        "  a persistent one ends in an error. A Retry-After above "
        f"{confidential_client.MAX_RETRY_AFTER_SECONDS:g} s is not waited for: the error comes at once,",
        "  and msal then answers the same request with that reply until the Retry-After has passed (at most an",
        "  hour). A body cut off mid-way is not retried (requests reads it after urllib3's retries are over). The",
        "  token cache hides all of these while a valid token is held (refresh ahead, keep serving), so they show",
        "  at a cold start or once the token has expired.",
        "- A token for another audience cannot be told apart by the app (tokens are opaque). When Key Vault refuses",
        "  it (401), the token is renewed once and the read retried once; a source that keeps issuing such tokens",
        "  ends in `SecretAccessDeniedError` (a managed-identity endpoint may hand back the same token it cached).",
        "",
    ]
    return "\n".join(lines)


def _without_times(text: str) -> str:
    """The table without what changes from run to run: times and request counts (a retry's timing decides
    whether a last attempt fits in the bound)."""
    lines = []
    for line in text.splitlines():
        cells = line.split(" | ")
        if line.startswith("| ") and len(cells) == 6 and cells[4].endswith(" s"):
            del cells[3:5]
        lines.append(_TIME.sub("<t>", " | ".join(cells)))
    return "\n".join(lines)


def test_reliability_table(matrix: MatrixRun) -> None:
    """Writes docs/RELIABILITY.md when an outcome changed (times and request counts alone do not count)."""
    content = render(matrix)
    for target, fault in CASES:
        assert f"| {target.title} | {fault.title} |" in content
    old = RELIABILITY.read_text() if RELIABILITY.exists() else ""
    matrix_part, marker, load_part = old.partition(LOAD_SECTION_START)  # the load runs' figures stay as they are
    if _without_times(matrix_part.rstrip("\n")) != _without_times(content.rstrip("\n")):
        RELIABILITY.parent.mkdir(parents=True, exist_ok=True)
        RELIABILITY.write_text(content.rstrip("\n") + "\n\n" + marker + load_part if marker else content)
    written = RELIABILITY.read_text().partition(LOAD_SECTION_START)[0]
    assert _without_times(written.rstrip("\n")) == _without_times(content.rstrip("\n"))
