"""Security, identity (issue 14, findings 2, 3 and 9): one test per class of bug, each over every instance.

- Untrusted program execution: a program appauth runs for a token (Visual Studio's token service, the
  Azure CLI) runs only when it is that tool and nobody but this user or root could have put it there or
  changed it; and Visual Studio's home-directory file is not read by the default chain off Windows.
  Each planted program creates a marker file when it runs: that the marker never appears is the proof
  that it did not run, and the trusted controls (where it does appear) prove the proof can fail.
- Identity switching: a managed identity the environment announces (App Service, App Service 2017, Azure
  Arc, Cloud Shell, Service Fabric, AKS workload identity) that fails makes the call fail, is asked again
  on the next call, and is never traded for another identity (here a signed-in Azure CLI); an IMDS that
  did not answer its probe is asked again after a back-off instead of being given up for the process.
- Cache identity: every input that selects who a token is for gives its own cache entry, for every token
  source the package has (the list is found, not written down, so a new source cannot be forgotten).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import appauth_core.tokens.sources
from appauth_core import (
    AzureServiceTokenProvider,
    AzureServiceTokenProviderError,
    SourceUnavailableError,
    UntrustedProgramError,
)
from appauth_core.testing import AzureEmulator
from appauth_core.tokens import TokenCache
from appauth_core.tokens.sources._azure_cli import AzureCliSource
from appauth_core.tokens.sources._certificate import CertificateSource
from appauth_core.tokens.sources._chain import ChainedSource
from appauth_core.tokens.sources._client_secret import ClientSecretSource
from appauth_core.tokens.sources._environment import (
    IncompleteEnvironmentCredential,
    NoEnvironmentCredential,
    environment_source,
)
from appauth_core.tokens.sources._environment_credential import EnvironmentCertificateSource, EnvironmentSecretSource
from appauth_core.tokens.sources._imds_probe import reset_imds_probe_cache
from appauth_core.tokens.sources._integrated_windows import IntegratedWindowsSource
from appauth_core.tokens.sources._key_vault_certificate import KeyVaultCertificateSource
from appauth_core.tokens.sources._managed_identity import ManagedIdentitySource
from appauth_core.tokens.sources._visual_studio import TOKEN_PROVIDER_FILE, VisualStudioSource
from appauth_core.tokens.sources._workload_identity import IncompleteWorkloadIdentitySource, WorkloadIdentitySource

from .support import closed_port

VAULT = "https://vault.azure.net"
FAR_FUTURE = 4_102_444_800  # 2100-01-01: a planted token that would be used if it were accepted
TOKEN_SERVICE = ("Common7", "IDE", "CommonExtensions", "Microsoft", "Asal", "TokenService")
TOKEN_SERVICE_EXE = "Microsoft.Asal.TokenService.exe"
NOBODY = 65534
VISUAL_STUDIO = "RunAs=Developer;DeveloperTool=VisualStudio"
AZURE_CLI = "RunAs=Developer;DeveloperTool=AzureCli"
SUBJECT = "system:serviceaccount:shop:web"


@pytest.fixture(autouse=True)
def _fresh_imds_probe() -> Iterator[None]:
    reset_imds_probe_cache()
    yield
    reset_imds_probe_cache()


# --- 1. untrusted program execution ------------------------------------------------------------------------


class Plant:
    """A home folder, an empty search path and programs that prove they ran by creating ``marker``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.bin = root / "bin"
        self.marker = root / "ran"
        self.home.mkdir()
        self.bin.mkdir()

    def script(self) -> str:
        """Shell that creates the marker (no external command: PATH may be empty) and prints what both
        tools' parsers read as a token."""
        token = json.dumps({"access_token": "planted", "accessToken": "planted", "expires_on": FAR_FUTURE})
        return f": > '{self.marker}'; echo '{token}'"

    def program(self, path: Path, mode: int = 0o755) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!/bin/sh\n{self.script()}\n")
        path.chmod(mode)
        return path

    def token_service_path(self) -> Path:
        return self.root.joinpath("Microsoft Visual Studio", "2022", "Community", *TOKEN_SERVICE, TOKEN_SERVICE_EXE)

    def token_provider_file(self, program: str | Path, arguments: list[str] | None = None, mode: int = 0o600) -> Path:
        """``tokenprovider.json`` where Visual Studio writes it in this home folder."""
        path = self.home / TOKEN_PROVIDER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"Path": str(program), "Arguments": arguments or [], "Preference": 1}
        path.write_text(json.dumps({"TokenProviders": [entry]}))
        path.chmod(mode)
        return path

    def environ(self) -> dict[str, str]:
        """No managed identity (IMDS on a closed loopback port), no az unless planted in ``bin``."""
        return {
            "HOME": str(self.home),
            "PATH": str(self.bin),
            "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{closed_port()}",
        }


def _shell_in_home_file(plant: Plant) -> str | None:
    """The reproduction: a file in $HOME naming /bin/sh, read by the default chain on Linux."""
    plant.token_provider_file("/bin/sh", ["-c", plant.script()])
    return None


def _shell_named_explicitly(plant: Plant) -> str | None:
    plant.token_provider_file("/bin/sh", ["-c", plant.script()])
    return VISUAL_STUDIO


def _link_to_a_shell(plant: Plant) -> str | None:
    link = plant.token_service_path()
    link.parent.mkdir(parents=True)
    link.symlink_to("/bin/sh")
    plant.token_provider_file(link, ["-c", plant.script()])
    return VISUAL_STUDIO


def _token_service_with_mode(mode: int) -> Callable[[Plant], str | None]:
    def arrange(plant: Plant) -> str | None:
        plant.token_provider_file(plant.program(plant.token_service_path(), mode))
        return VISUAL_STUDIO

    return arrange


def _token_service_folder_writable_by_others(plant: Plant) -> str | None:
    program = plant.program(plant.token_service_path())
    program.parent.chmod(0o777)
    plant.token_provider_file(program)
    return VISUAL_STUDIO


def _token_provider_file_writable_by_others(plant: Plant) -> str | None:
    plant.token_provider_file(plant.program(plant.token_service_path()), mode=0o666)
    return VISUAL_STUDIO


def _token_service_of_another_user(plant: Plant) -> str | None:
    program = plant.program(plant.token_service_path())
    os.chown(program, NOBODY, NOBODY)
    plant.token_provider_file(program)
    return VISUAL_STUDIO


def _az_with_mode(mode: int) -> Callable[[Plant], str | None]:
    def arrange(plant: Plant) -> str | None:
        plant.program(plant.bin / "az", mode)
        return AZURE_CLI

    return arrange


def _az_folder_writable_by_others(plant: Plant) -> str | None:
    plant.program(plant.bin / "az")
    plant.bin.chmod(0o777)
    return AZURE_CLI


def _az_of_another_user(plant: Plant) -> str | None:
    os.chown(plant.program(plant.bin / "az"), NOBODY, NOBODY)
    return AZURE_CLI


@dataclass(frozen=True)
class PlantCase:
    name: str
    arrange: Callable[[Plant], str | None]  # returns the connection string (None: the default chain)
    refused: type[Exception] | None  # None: a trusted control, which must run
    needs_root: bool = False


PLANT_CASES = [
    PlantCase("default chain, $HOME file names /bin/sh", _shell_in_home_file, AzureServiceTokenProviderError),
    PlantCase("Visual Studio, file names /bin/sh", _shell_named_explicitly, UntrustedProgramError),
    PlantCase("Visual Studio, token service is a link to /bin/sh", _link_to_a_shell, UntrustedProgramError),
    PlantCase(
        "Visual Studio, token service writable by others", _token_service_with_mode(0o757), UntrustedProgramError
    ),
    PlantCase("Visual Studio, token service writable by group", _token_service_with_mode(0o775), UntrustedProgramError),
    PlantCase(
        "Visual Studio, its folder writable by others", _token_service_folder_writable_by_others, UntrustedProgramError
    ),
    PlantCase(
        "Visual Studio, tokenprovider.json writable by others",
        _token_provider_file_writable_by_others,
        UntrustedProgramError,
    ),
    PlantCase(
        "Visual Studio, token service owned by another user",
        _token_service_of_another_user,
        UntrustedProgramError,
        needs_root=True,
    ),
    PlantCase("Azure CLI, az writable by others", _az_with_mode(0o757), UntrustedProgramError),
    PlantCase("Azure CLI, az writable by group", _az_with_mode(0o775), UntrustedProgramError),
    PlantCase("Azure CLI, its folder writable by others", _az_folder_writable_by_others, UntrustedProgramError),
    PlantCase("Azure CLI, az owned by another user", _az_of_another_user, UntrustedProgramError, needs_root=True),
    PlantCase(
        "control: Visual Studio's token service, only its owner may write", _token_service_with_mode(0o755), None
    ),
    PlantCase("control: az, only its owner may write", _az_with_mode(0o755), None),
]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners and modes; Windows uses ACLs")
@pytest.mark.parametrize("case", PLANT_CASES, ids=[case.name for case in PLANT_CASES])
def test_a_program_runs_only_if_it_is_the_tool_and_no_one_else_could_change_it(
    case: PlantCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case.needs_root and os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-kerberos-ticket")  # the chain's last method: not here
    plant = Plant(tmp_path)
    connection_string = case.arrange(plant)
    provider = AzureServiceTokenProvider(connection_string, cache=TokenCache(), environ=plant.environ())

    if case.refused is None:
        assert provider.get_access_token(VAULT) == "planted"
        assert plant.marker.exists()  # the harness does see a program that runs
        return
    with pytest.raises(case.refused) as caught:
        provider.get_access_token(VAULT)
    assert not plant.marker.exists(), f"the planted program ran: {case.name}"
    error = caught.value
    assert isinstance(error, AzureServiceTokenProviderError)
    if isinstance(error, UntrustedProgramError):
        assert error.path and error.path in str(error)
        assert "nothing was run" in str(error)
    else:  # the default chain off Windows: Visual Studio's file is not even read
        assert "Visual Studio" not in [attempt.method for attempt in error.attempts]


# --- 2. identity switching ----------------------------------------------------------------------------------


class Clock:
    """A monotonic clock that moves only when told to (the IMDS probe's back-off, without waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Developer:
    """A signed-in Azure CLI on PATH: the other identity an app must never be handed to silently."""

    folder: Path
    runs: Path
    token: str

    def run_count(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0


@pytest.fixture
def developer(tmp_path: Path, azure_emulator: AzureEmulator) -> Developer:
    folder, runs = tmp_path / "developer-bin", tmp_path / "az-runs"
    token = azure_emulator.issue_token(VAULT, app=azure_emulator.app).access_token
    payload = json.dumps({"accessToken": token, "expires_on": FAR_FUTURE, "tokenType": "Bearer"})
    folder.mkdir()
    script = folder / "az"
    script.write_text(f"#!/bin/sh\necho run >> '{runs}'\necho '{payload}'\n")
    script.chmod(0o755)
    return Developer(folder, runs, token)


@dataclass(frozen=True)
class Announced:
    """An environment that announces a managed identity, and the emulator endpoint that answers its first
    request with a 403 (for the incomplete workload identity: the node's IMDS, which must not be asked)."""

    name: str
    environ: Callable[[AzureEmulator, Path], dict[str, str]]
    endpoint: str
    method: str  # how errors name it
    recovers: bool = True  # the next call gets the managed identity's token


def _federated_token_file(emulator: AzureEmulator, tmp_path: Path) -> str:
    token_file = tmp_path / "federated-token"
    token_file.write_text(emulator.issue_federated_token(SUBJECT))
    return str(token_file)


def _workload_environ(emulator: AzureEmulator, tmp_path: Path) -> dict[str, str]:
    """What the AKS webhook injects; Entra ID refuses the pod's first sign-in."""
    return {
        "AZURE_CLIENT_ID": emulator.register_app(federated_subject=SUBJECT).app_id,
        "AZURE_TENANT_ID": emulator.tenant_id,
        "AZURE_FEDERATED_TOKEN_FILE": _federated_token_file(emulator, tmp_path),
        "AZURE_AUTHORITY_HOST": emulator.authority.rstrip("/"),
    }


def _incomplete_workload_environ(emulator: AzureEmulator, tmp_path: Path) -> dict[str, str]:
    """The pod's token file is there but the webhook's other variables are not; the node's IMDS answers."""
    return {"AZURE_FEDERATED_TOKEN_FILE": _federated_token_file(emulator, tmp_path), **emulator.imds_env()}


ANNOUNCED = [
    Announced("App Service", lambda e, _: e.app_service_env(), "mi.app_service", "Managed identity (App Service)"),
    Announced(
        "App Service 2017",
        lambda e, _: e.app_service_2017_env(),
        "mi.app_service_2017",
        "Managed identity (App Service 2017-09-01)",
    ),
    Announced("Azure Arc", lambda e, _: e.arc_env(), "mi.arc", "Managed identity (Azure Arc)"),
    Announced("Cloud Shell", lambda e, _: e.cloud_shell_env(), "mi.cloud_shell", "Managed identity (Cloud Shell)"),
    Announced(
        "Service Fabric", lambda e, _: e.service_fabric_env(), "mi.service_fabric", "Managed identity (Service Fabric)"
    ),
    Announced("workload identity", _workload_environ, "entra.token", "Workload identity"),
    Announced(
        "workload identity, incomplete", _incomplete_workload_environ, "mi.imds", "Workload identity", recovers=False
    ),
]
IMDS_UNREACHABLE = {"error": "forbidden", "error_description": "connecting to 169.254.169.254: unreachable network"}


def _managed_identity_in(provider: AzureServiceTokenProvider) -> Any:
    """The first source of the provider's default chain (for the seams the emulator cannot reach)."""
    chain = provider._source
    assert isinstance(chain, ChainedSource)
    return chain.sources[0]


def _default_chain(emulator: AzureEmulator, environ: dict[str, str], developer: Developer) -> AzureServiceTokenProvider:
    environ = {**environ, "PATH": str(developer.folder), "HOME": str(developer.folder)}
    provider = AzureServiceTokenProvider(cache=TokenCache(), environ=environ)
    source = _managed_identity_in(provider)
    if isinstance(source, ManagedIdentitySource):
        source.arc_key_dir = emulator.managed_identity.arc_key_dir  # where the emulator's Arc agent writes keys
    return provider


@pytest.mark.parametrize("case", [*ANNOUNCED, None], ids=[*(case.name for case in ANNOUNCED), "IMDS, probe unanswered"])
def test_a_managed_identity_that_fails_is_never_traded_for_another_identity(
    case: Announced | None,
    azure_emulator: AzureEmulator,
    azure_emulator_env: dict[str, str],
    developer: Developer,
    tmp_path: Path,
) -> None:
    if case is None:
        _imds_probe_unanswered_is_asked_again(azure_emulator, developer)
        return
    provider = _default_chain(azure_emulator, case.environ(azure_emulator, tmp_path), developer)
    azure_emulator.faults.inject(case.endpoint, status=403, body={"error": "forbidden", "message": "refused"})

    for _ in range(1 if case.recovers else 2):  # the incomplete configuration fails on every call
        with pytest.raises(AzureServiceTokenProviderError) as caught:
            provider.get_access_token(VAULT)
        error = caught.value
        assert not isinstance(error, SourceUnavailableError)
        assert [attempt.method for attempt in error.attempts] == [case.method]  # the error names what was tried
        assert case.method in str(error)
    assert developer.run_count() == 0, "the failing managed identity was traded for the developer's sign-in"

    if case.recovers:
        token = provider.get_access_token(VAULT)  # the next call asks the managed identity again
        assert provider.method_used == case.method
        assert token != developer.token
        assert azure_emulator.issuer.verify(token)["aud"] == VAULT
    else:
        assert azure_emulator.counters["mi.imds"] == 0  # never the node's identity either
    assert developer.run_count() == 0


def _imds_probe_unanswered_is_asked_again(emulator: AzureEmulator, developer: Developer) -> None:
    """IMDS is never announced: when its probe gets no answer the chain moves on (a VM at boot cannot be
    told from a laptop), but only for now. After the back-off IMDS is asked again and, answering, keeps
    the app from then on."""
    provider = _default_chain(emulator, emulator.imds_env(), developer)
    clock = Clock()
    _managed_identity_in(provider)._clock = clock
    emulator.faults.inject("mi.imds", status=403, body=IMDS_UNREACHABLE)  # Docker Desktop's answer: no IMDS

    assert provider.get_access_token(VAULT) == developer.token
    assert provider.get_access_token(VAULT, force_refresh=True) == developer.token  # within the back-off
    assert emulator.counters["mi.imds"] == 1  # not probed again yet
    clock.now += 3600.0

    token = provider.get_access_token(VAULT, force_refresh=True)
    assert provider.method_used == "Managed identity (IMDS)"
    assert emulator.issuer.verify(token)["appid"] == emulator.directory.system_identity.client_id
    runs = developer.run_count()
    assert provider.get_access_token(VAULT, force_refresh=True) != developer.token
    assert developer.run_count() == runs == 2  # and the developer's sign-in is not asked again


# --- 3. cache identity --------------------------------------------------------------------------------------


def _token_sources() -> set[type]:
    """Every public class in ``appauth_core.tokens.sources`` with a ``get_token`` and a ``cache_identity`` (a class
    attribute, a property or set by its constructor): the token sources."""
    found: set[type] = set()
    for module_info in pkgutil.iter_modules(appauth_core.tokens.sources.__path__, "appauth_core.tokens.sources."):
        module = importlib.import_module(module_info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            public = cls.__module__ == module.__name__ and not name.startswith("_")
            if not public or getattr(cls, "_is_protocol", False) or not callable(getattr(cls, "get_token", None)):
                continue
            if hasattr(cls, "cache_identity") or "self.cache_identity =" in inspect.getsource(cls):
                found.add(cls)
    return found


APP_SERVICE = {"IDENTITY_ENDPOINT": "http://127.0.0.1:8081/msi/token", "IDENTITY_HEADER": "header-one"}
SERVICE_FABRIC = {
    "IDENTITY_ENDPOINT": "https://127.0.0.1:2377/metadata/identity/oauth2/token",
    "IDENTITY_HEADER": "header-one",
    "IDENTITY_SERVER_THUMBPRINT": "aa" * 20,
}
TENANT, OTHER_TENANT = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
APP, OTHER_APP = "33333333-3333-3333-3333-333333333333", "44444444-4444-4444-4444-444444444444"
SECRET_ID = "https://vault-one.vault.azure.net/secrets/cert"
Identities = dict[str, str]  # what was varied -> the cache identity it gave


def _managed_identity(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    def mi(environ: dict[str, str], client_id: str | None = None) -> str:
        return ManagedIdentitySource(client_id, environ=environ).cache_identity

    endpoint = APP_SERVICE["IDENTITY_ENDPOINT"]
    return {
        "App Service": mi(APP_SERVICE),
        "another IDENTITY_ENDPOINT": mi({**APP_SERVICE, "IDENTITY_ENDPOINT": "http://127.0.0.1:8082/msi"}),
        "another IDENTITY_HEADER": mi({**APP_SERVICE, "IDENTITY_HEADER": "header-two"}),
        "a user-assigned identity": mi(APP_SERVICE, APP),
        "another user-assigned identity": mi(APP_SERVICE, OTHER_APP),
        "App Service 2017, same endpoint and secret": mi({"MSI_ENDPOINT": endpoint, "MSI_SECRET": "header-one"}),
        "Cloud Shell, same endpoint": mi({"MSI_ENDPOINT": endpoint}),
        "Azure Arc, same endpoint": mi({"IDENTITY_ENDPOINT": endpoint, "IMDS_ENDPOINT": "http://127.0.0.1:8084"}),
        "Service Fabric": mi(SERVICE_FABRIC),
        "Service Fabric, another thumbprint": mi({**SERVICE_FABRIC, "IDENTITY_SERVER_THUMBPRINT": "bb" * 20}),
        "IMDS": mi({"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:8083"}),
        "another AZURE_POD_IDENTITY_AUTHORITY_HOST": mi({"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.2"}),
    }


def _azure_cli(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    def cli(**environ: str) -> str:
        return AzureCliSource(environ=environ).cache_identity

    return {
        "AZURE_CONFIG_DIR": cli(AZURE_CONFIG_DIR=str(root / "one")),
        "another AZURE_CONFIG_DIR": cli(AZURE_CONFIG_DIR=str(root / "two")),
        "HOME (USERPROFILE), no AZURE_CONFIG_DIR": cli(HOME=str(root / "one"), USERPROFILE=str(root / "one")),
        "another HOME (USERPROFILE)": cli(HOME=str(root / "two"), USERPROFILE=str(root / "two")),
    }


def _visual_studio(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    def home(folder: str) -> str:
        environ = {"HOME": str(root / folder), "LOCALAPPDATA": str(root / folder)}
        return VisualStudioSource(environ=environ).cache_identity

    return {
        "token_provider_file": VisualStudioSource(token_provider_file=root / "one.json").cache_identity,
        "another token_provider_file": VisualStudioSource(token_provider_file=root / "two.json").cache_identity,
        "HOME (LOCALAPPDATA)": home("a"),
        "another HOME (LOCALAPPDATA)": home("b"),
    }


def _workload_identity(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    def workload(client: str = APP, tenant: str = TENANT, file: str = "token", host: str | None = None) -> str:
        return WorkloadIdentitySource(client, tenant, root / file, authority_host=host).cache_identity

    return {
        "workload identity": workload(),
        "another AZURE_CLIENT_ID": workload(client=OTHER_APP),
        "another AZURE_TENANT_ID": workload(tenant=OTHER_TENANT),
        "another AZURE_FEDERATED_TOKEN_FILE": workload(file="other-token"),
        "another AZURE_AUTHORITY_HOST": workload(host="https://login.microsoftonline.us"),
    }


def _incomplete_workload_identity(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    def incomplete(file: str) -> str:
        return IncompleteWorkloadIdentitySource({"AZURE_FEDERATED_TOKEN_FILE": str(root / file)}).cache_identity

    return {"AZURE_FEDERATED_TOKEN_FILE alone": incomplete("a"), "another AZURE_FEDERATED_TOKEN_FILE": incomplete("b")}


def _client_secret(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    return {
        "client secret": ClientSecretSource(APP, TENANT, "secret-one").cache_identity,
        "another AppId": ClientSecretSource(OTHER_APP, TENANT, "secret-one").cache_identity,
        "another TenantId": ClientSecretSource(APP, OTHER_TENANT, "secret-one").cache_identity,
        "another AppKey": ClientSecretSource(APP, TENANT, "secret-two").cache_identity,
    }


def _certificate(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    def certificate(app: str = APP, tenant: str = TENANT, **wanted: str) -> str:
        return CertificateSource(app, tenant, **wanted).cache_identity

    return {
        "CertificateThumbprint": certificate(thumbprint="aa" * 20),
        "another CertificateThumbprint": certificate(thumbprint="bb" * 20),
        "CertificateSubjectName": certificate(subject_name="CN=one"),
        "another CertificateSubjectName": certificate(subject_name="CN=two"),
        "another AppId": certificate(OTHER_APP, thumbprint="aa" * 20),
        "another TenantId": certificate(tenant=OTHER_TENANT, thumbprint="aa" * 20),
    }


def _key_vault_certificate(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    vault_identity = ManagedIdentitySource(environ=APP_SERVICE)

    def certificate(app: str = APP, secret_id: str = SECRET_ID, tenant: str | None = None) -> str:
        return KeyVaultCertificateSource(
            app, secret_id, tenant_id=tenant, vault_token_source=vault_identity
        ).cache_identity

    return {
        "Key Vault certificate": certificate(),
        "another AppId": certificate(app=OTHER_APP),
        "a TenantId": certificate(tenant=TENANT),
        "another KeyVaultCertificateSecretIdentifier": certificate(secret_id=SECRET_ID + "-two"),
    }


def _integrated_windows(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    identities: Identities = {}
    for label, ccache in (("KRB5CCNAME", "one"), ("another KRB5CCNAME", "two")):
        monkeypatch.setenv("KRB5CCNAME", f"FILE:{root / ccache}")  # gssapi reads the process's own variable
        identities[label] = IntegratedWindowsSource(environ={}).cache_identity
    identities["upn="] = IntegratedWindowsSource(upn="alice@contoso.com", environ={}).cache_identity
    identities["another upn="] = IntegratedWindowsSource(upn="bob@contoso.com", environ={}).cache_identity
    identities["APPAUTH_USER_PRINCIPAL_NAME"] = IntegratedWindowsSource(
        environ={"APPAUTH_USER_PRINCIPAL_NAME": "carol@contoso.com"}
    ).cache_identity
    return identities


ENVIRONMENT = {"AZURE_CLIENT_ID": APP, "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_SECRET": "secret-one"}


def _environment_secret(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    def environment(**changed: str) -> str:
        source = environment_source({**ENVIRONMENT, **changed})
        assert isinstance(source, EnvironmentSecretSource)
        return source.cache_identity

    return {
        "AZURE_CLIENT_SECRET": environment(),
        "another AZURE_CLIENT_ID": environment(AZURE_CLIENT_ID=OTHER_APP),
        "another AZURE_TENANT_ID": environment(AZURE_TENANT_ID=OTHER_TENANT),
        "another AZURE_CLIENT_SECRET": environment(AZURE_CLIENT_SECRET="secret-two"),
        "an AZURE_AUTHORITY_HOST": environment(AZURE_AUTHORITY_HOST="login.microsoftonline.us"),
        "another AZURE_AUTHORITY_HOST": environment(AZURE_AUTHORITY_HOST="login.chinacloudapi.cn"),
    }


def _environment_certificate(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    def environment(**changed: str) -> str:
        variables = {**ENVIRONMENT, "AZURE_CLIENT_CERTIFICATE_PATH": str(root / "one.pem"), **changed}
        del variables["AZURE_CLIENT_SECRET"]
        source = environment_source(variables)
        assert isinstance(source, EnvironmentCertificateSource)
        return source.cache_identity

    return {
        "AZURE_CLIENT_CERTIFICATE_PATH": environment(),
        "another AZURE_CLIENT_CERTIFICATE_PATH": environment(AZURE_CLIENT_CERTIFICATE_PATH=str(root / "two.pem")),
        "an AZURE_CLIENT_CERTIFICATE_PASSWORD": environment(AZURE_CLIENT_CERTIFICATE_PASSWORD="secret-one"),
        "another AZURE_CLIENT_CERTIFICATE_PASSWORD": environment(AZURE_CLIENT_CERTIFICATE_PASSWORD="secret-two"),
        "another AZURE_CLIENT_ID": environment(AZURE_CLIENT_ID=OTHER_APP),
        "another AZURE_TENANT_ID": environment(AZURE_TENANT_ID=OTHER_TENANT),
        "an AZURE_AUTHORITY_HOST": environment(AZURE_AUTHORITY_HOST="login.microsoftonline.us"),
    }


def _no_environment_credential(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    none = environment_source({"AZURE_CLIENT_ID": APP})
    assert isinstance(none, NoEnvironmentCredential)
    return {"AZURE_CLIENT_ID alone": none.cache_identity}


def _incomplete_environment_credential(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    def incomplete(**variables: str) -> str:
        source = environment_source(variables)
        assert isinstance(source, IncompleteEnvironmentCredential)
        return source.cache_identity

    return {
        "AZURE_CLIENT_SECRET, no AZURE_TENANT_ID": incomplete(AZURE_CLIENT_SECRET="secret-one", AZURE_CLIENT_ID=APP),
        "AZURE_CLIENT_SECRET, no AZURE_CLIENT_ID": incomplete(AZURE_CLIENT_SECRET="secret-one", AZURE_TENANT_ID=TENANT),
    }


def _chain(root: Path, monkeypatch: pytest.MonkeyPatch) -> Identities:
    other = {**APP_SERVICE, "IDENTITY_ENDPOINT": "http://127.0.0.1:9/msi"}
    return {
        "chain": ChainedSource([ManagedIdentitySource(environ=APP_SERVICE)]).cache_identity,
        "a source in it with another endpoint": ChainedSource([ManagedIdentitySource(environ=other)]).cache_identity,
    }


VARIED: dict[type, Callable[[Path, pytest.MonkeyPatch], Identities]] = {
    ManagedIdentitySource: _managed_identity,
    AzureCliSource: _azure_cli,
    VisualStudioSource: _visual_studio,
    WorkloadIdentitySource: _workload_identity,
    IncompleteWorkloadIdentitySource: _incomplete_workload_identity,
    ClientSecretSource: _client_secret,
    EnvironmentSecretSource: _environment_secret,
    EnvironmentCertificateSource: _environment_certificate,
    NoEnvironmentCredential: _no_environment_credential,
    IncompleteEnvironmentCredential: _incomplete_environment_credential,
    CertificateSource: _certificate,
    KeyVaultCertificateSource: _key_vault_certificate,
    IntegratedWindowsSource: _integrated_windows,
    ChainedSource: _chain,
}


def test_every_input_that_selects_who_a_token_is_for_gives_its_own_cache_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, azure_emulator: AzureEmulator
) -> None:
    missing = _token_sources() - set(VARIED)
    assert not missing, f"token sources whose cache identity this test does not vary: {sorted(map(str, missing))}"
    identities = {
        f"{cls.__name__}, {label}": identity
        for cls, vary in VARIED.items()
        for label, identity in vary(tmp_path, monkeypatch).items()
    }
    seen: dict[str, list[str]] = {}
    for label, identity in identities.items():
        seen.setdefault(identity, []).append(label)
    assert [labels for labels in seen.values() if len(labels) > 1] == []  # each pair here shared a cache entry
    for identity in identities.values():
        assert "header-one" not in identity and "secret-one" not in identity  # never a secret in a cache key

    # End to end, the case that was reported: two providers on one cache, two IDENTITY_ENDPOINTs.
    cache = TokenCache()
    one = azure_emulator.app_service_env()
    two = {**one, "IDENTITY_ENDPOINT": one["IDENTITY_ENDPOINT"].replace("127.0.0.1", "localhost")}
    for environ in (one, two):
        AzureServiceTokenProvider("RunAs=App", cache=cache, environ=environ).get_access_token(VAULT)
    assert azure_emulator.counters["mi.app_service"] == 2  # the second provider did not get the first's token
