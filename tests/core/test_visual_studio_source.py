"""VisualStudioSource runs the programs listed in a real tokenprovider.json as real processes: copies of
``fake_vs_token_provider.py`` that get their tokens from the emulator's Entra ID. Each copy sits where
Visual Studio installs its token service (``<install folder>/Common7/IDE/.../Microsoft.Asal.TokenService.exe``)
and, like the file, is owned by the test's user and writable by nobody else: the source runs nothing else
(what it refuses: tests/hardening/test_security_identity.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from appauth_core.errors import (
    AzureServiceTokenProviderError,
    InvalidRequestError,
    SourceUnavailableError,
    UntrustedProgramError,
)
from appauth_core.testing.emulator import AzureEmulator
from appauth_core.tokens.sources._base import TokenRequest, TokenSource
from appauth_core.tokens.sources._visual_studio import (
    TOKEN_PROVIDER_FILE,
    TOKEN_SERVICE_EXE,
    TOKEN_SERVICE_PATH,
    VisualStudioSource,
    default_token_provider_file,
    parse_expires_on,
    parse_token_provider_file,
    token_service_problem,
)

FAKE_PROVIDER = Path(__file__).with_name("fake_vs_token_provider.py")
VAULT = "https://vault.azure.net"
SECRET_VARIABLE = "FAKE_VS_CLIENT_SECRET"
JWT_LOOKALIKE = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJl"


class Workspace:
    """A temporary tokenprovider.json and the provider programs it lists."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.file = root / "tokenprovider.json"
        self.record = root / "runs.jsonl"

    def install_folder(self, name: str) -> Path:
        return self.root / name / "Microsoft Visual Studio" / "2022" / "Community"

    def token_service(self, name: str) -> Path:
        """Where the Visual Studio installed in folder ``name`` keeps its token service."""
        return self.install_folder(name).joinpath(*TOKEN_SERVICE_PATH, TOKEN_SERVICE_EXE)

    def program(self, name: str) -> Path:
        """A copy of the fake token program as the token service of install ``name``, executable through a
        shebang to this interpreter, owned by this user and writable by nobody else."""
        path = self.token_service(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!{sys.executable}\n" + FAKE_PROVIDER.read_text())
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    def write(self, providers: list[dict[str, Any]], *, encoding: str = "utf-8") -> None:
        self.file.write_text(json.dumps({"TokenProviders": providers}), encoding=encoding)

    def runs(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def ran(self) -> list[str]:
        """The install each run came from (the name ``program`` was given)."""
        return [Path(run["program"]).resolve().relative_to(self.root.resolve()).parts[0] for run in self.runs()]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def _emulator_arguments(emulator: AzureEmulator, workspace: Workspace, *extra: str) -> list[str]:
    return [
        "--authority",
        emulator.authority,
        "--default-tenant",
        emulator.tenant_id,
        "--client-id",
        emulator.app.app_id,
        f"--secret-variable={SECRET_VARIABLE}",
        "--ca",
        str(emulator.ca_path),
        "--record",
        str(workspace.record),
        *extra,
    ]


def _source(workspace: Workspace, emulator: AzureEmulator | None = None, timeout: float = 30.0) -> VisualStudioSource:
    environ = dict(os.environ)
    if emulator is not None:
        environ[SECRET_VARIABLE] = emulator.app.secrets[0]
    return VisualStudioSource(token_provider_file=workspace.file, timeout=timeout, environ=environ)


def _failing(workspace: Workspace, name: str, preference: int, message: str) -> dict[str, Any]:
    return {
        "Path": str(workspace.program(name)),
        "Arguments": ["--record", str(workspace.record), f"--fail={message}"],
        "Preference": preference,
    }


def test_is_a_token_source() -> None:
    source = VisualStudioSource()
    assert isinstance(source, TokenSource)
    assert source.name == "Visual Studio"
    assert source.cache_identity == f"visual-studio:{default_token_provider_file(os.environ)}"


def test_token_from_the_signed_in_provider(workspace: Workspace, azure_emulator: AzureEmulator) -> None:
    emulator = azure_emulator
    program = workspace.program("vs")
    arguments = _emulator_arguments(emulator, workspace)
    workspace.write([{"Path": str(program), "Arguments": arguments, "Preference": 2}])

    token = _source(workspace, emulator).get_token(TokenRequest(VAULT, tenant_id=emulator.tenant_id))

    claims = emulator.issuer.verify(token.access_token)
    assert (claims["aud"], claims["appid"], claims["tid"]) == (VAULT, emulator.app.app_id, emulator.tenant_id)
    # The program printed local time to the second without an offset; the JWT's exp is the same instant.
    assert 0 <= claims["exp"] - token.expires_on <= 2
    assert token.token_type == "Bearer"
    # Azure.Identity's order: the file's arguments, then --resource and --tenant.
    assert workspace.runs()[0]["argv"] == [*arguments, "--resource", VAULT, "--tenant", emulator.tenant_id]
    assert emulator.app.secrets[0] not in json.dumps(workspace.runs())  # the secret travelled in the environment


def test_without_a_tenant_no_tenant_argument(workspace: Workspace, azure_emulator: AzureEmulator) -> None:
    arguments = _emulator_arguments(azure_emulator, workspace, "--expires-format=epoch")
    workspace.write([{"Path": str(workspace.program("provider")), "Arguments": arguments, "Preference": 0}])

    token = _source(workspace, azure_emulator).get_token(TokenRequest(VAULT))

    assert azure_emulator.issuer.verify(token.access_token)["tid"] == azure_emulator.tenant_id
    assert workspace.runs()[0]["argv"] == [*arguments, "--resource", VAULT]


def test_providers_run_in_ascending_preference(workspace: Workspace, azure_emulator: AzureEmulator) -> None:
    workspace.write(
        [
            _failing(workspace, "third", 7, "not reached"),
            {
                "Path": str(workspace.program("second")),
                "Arguments": _emulator_arguments(azure_emulator, workspace, "--expires-format=iso-utc"),
                "Preference": 2,
            },
            _failing(workspace, "first", 1, "TS003: Error, first is broken"),
        ],
        encoding="utf-8-sig",  # a byte-order mark, as .NET writers may put there
    )

    token = _source(workspace, azure_emulator).get_token(TokenRequest(VAULT))

    assert workspace.ran() == ["first", "second"]
    assert azure_emulator.issuer.verify(token.access_token)["aud"] == VAULT


def test_missing_programs_are_skipped(workspace: Workspace, azure_emulator: AzureEmulator) -> None:
    workspace.write(
        [
            {"Path": str(workspace.token_service("gone")), "Preference": 0},  # an update moved it
            {
                "Path": str(workspace.program("current")),
                "Arguments": _emulator_arguments(azure_emulator, workspace),
                "Preference": 1,
            },
        ]
    )

    _source(workspace, azure_emulator).get_token(TokenRequest(VAULT))

    assert workspace.ran() == ["current"]


def test_no_installed_program_is_unavailable(workspace: Workspace) -> None:
    missing = workspace.token_service("gone")
    workspace.write([{"Path": str(missing), "Arguments": [], "Preference": 0}])

    with pytest.raises(SourceUnavailableError, match="No valid Visual Studio token providers") as caught:
        _source(workspace).get_token(TokenRequest(VAULT))

    assert str(workspace.file) in str(caught.value)
    assert str(missing) in str(caught.value)
    assert workspace.ran() == []


def test_a_relative_path_is_refused_and_nothing_runs(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    relative = workspace.program("relative").relative_to(workspace.root)
    monkeypatch.chdir(workspace.root)  # the relative Path would find this program: it must not run
    workspace.write(
        [
            {"Path": str(workspace.program("good")), "Arguments": ["--record", str(workspace.record)], "Preference": 0},
            {"Path": str(relative), "Arguments": ["--record", str(workspace.record)], "Preference": 1},
        ]
    )

    with pytest.raises(UntrustedProgramError, match="is not an absolute path") as caught:
        _source(workspace).get_token(TokenRequest(VAULT))

    assert (caught.value.path, caught.value.method) == (str(workspace.file), "Visual Studio")
    assert "nothing was run" in str(caught.value)
    assert workspace.ran() == []  # not even the good one: the file is not what Visual Studio writes


SERVICE = "/".join((*TOKEN_SERVICE_PATH, TOKEN_SERVICE_EXE))


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/opt/Microsoft Visual Studio/2022/Community/" + SERVICE, None),
        ("/opt/vs/" + SERVICE.upper(), None),  # names compared as Windows compares them
        ("relative/" + SERVICE, "is not an absolute path"),
        ("/" + SERVICE, "is not Visual Studio's token service"),  # no install folder above Common7
        ("/opt/vs/../" + SERVICE, "has '.' or '..' in it"),
        ("/opt/vs/" + SERVICE.replace("TokenService/", "Other/"), "is not Visual Studio's token service"),
        ("/opt/vs/" + SERVICE.replace(TOKEN_SERVICE_EXE, "evil.exe"), "is not Visual Studio's token service"),
        ("/bin/sh", "is not Visual Studio's token service"),
    ],
)
def test_only_the_token_service_under_an_install_folder_qualifies(path: str, problem: str | None) -> None:
    found = token_service_problem(path)
    assert found is None if problem is None else found is not None and found.startswith(problem)


@pytest.mark.skipif(os.name != "nt", reason="a Windows path is not absolute elsewhere")
def test_a_windows_install_folder_qualifies() -> None:
    installed = "C:\\Program Files\\Microsoft Visual Studio\\2022\\Community\\" + SERVICE.replace("/", "\\")
    assert token_service_problem(installed) is None


def test_missing_file_is_unavailable_and_named(workspace: Workspace) -> None:
    with pytest.raises(SourceUnavailableError, match="token provider file not found") as caught:
        _source(workspace).get_token(TokenRequest(VAULT))

    assert str(workspace.file) in str(caught.value)
    assert caught.value.method == "Visual Studio"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ("[]", "'TokenProviders' must be a list"),
        ('{"Providers": []}', "'TokenProviders' must be a list"),
        ('{"TokenProviders": ["x"]}', r"TokenProviders\[0\] must be an object"),
        ('{"TokenProviders": [{"Preference": 1}]}', r"TokenProviders\[0\]\.Path"),
        ('{"TokenProviders": [{"Path": "/a", "Preference": 1}, {"Path": "/b"}]}', r"TokenProviders\[1\]\.Preference"),
        ('{"TokenProviders": [{"Path": "/a", "Preference": "1"}]}', r"TokenProviders\[0\]\.Preference"),
        ('{"TokenProviders": [{"Path": "/a", "Preference": true}]}', r"TokenProviders\[0\]\.Preference"),
        ('{"TokenProviders": [{"Path": "/a", "Preference": 1, "Arguments": "--x"}]}', r"\.Arguments must be a list"),
        ('{"TokenProviders": [{"Path": "/a", "Preference": 1, "Arguments": [1]}]}', r"\.Arguments must be a list"),
    ],
)
def test_bad_schema_names_the_problem(workspace: Workspace, content: str, problem: str) -> None:
    workspace.file.write_text(content)

    with pytest.raises(SourceUnavailableError, match="not in the expected format") as caught:
        _source(workspace).get_token(TokenRequest(VAULT))

    assert str(workspace.file) in str(caught.value)
    with pytest.raises(ValueError, match=problem):
        parse_token_provider_file(content)


def test_arguments_are_optional_and_order_is_stable() -> None:
    entries = parse_token_provider_file(
        '{"TokenProviders": [{"Path": "C:\\\\VS\\\\b.exe", "Preference": 1}, {"Path": "/a", "Preference": 1,'
        ' "Arguments": ["--x"]}, {"Path": "/c", "Preference": 0, "Arguments": null}]}'
    )
    assert [(e.exe_name, e.arguments, e.preference) for e in entries] == [
        ("c", (), 0),
        ("b.exe", (), 1),
        ("a", ("--x",), 1),
    ]


def test_every_failure_is_listed_without_tokens(workspace: Workspace) -> None:
    workspace.write(
        [
            _failing(workspace, "first", 1, "TS003: Error, TS001: account needs re-auth"),
            _failing(workspace, "second", 2, f'boom {{"access_token": "secret-ish"}} {JWT_LOOKALIKE}'),
            {
                "Path": str(workspace.program("garbage")),
                "Arguments": [f'--stdout={{"access_token": "{JWT_LOOKALIKE}"}}'],
                "Preference": 3,
            },
        ]
    )

    with pytest.raises(AzureServiceTokenProviderError) as caught:
        _source(workspace).get_token(TokenRequest(VAULT, tenant_id="contoso.onmicrosoft.com"))

    error = caught.value
    assert not isinstance(error, SourceUnavailableError)
    message = str(error)
    first, second, garbage = (workspace.install_folder(name) for name in ("first", "second", "garbage"))
    assert f"{first}: exit code 1: TS003: Error, TS001: account needs re-auth" in message
    assert f"{second}: exit code 1: boom" in message
    assert f"{garbage}: printed something that is not a token (no expires_on)" in message
    assert "secret-ish" not in message
    assert JWT_LOOKALIKE not in message
    assert [a.method for a in error.attempts] == [
        f"Visual Studio token provider in {first}",
        f"Visual Studio token provider in {second}",
        f"Visual Studio token provider in {garbage}",
    ]
    assert (error.resource, error.method) == (VAULT, "Visual Studio")


def test_signed_out_everywhere_is_unavailable(workspace: Workspace) -> None:
    workspace.write([_failing(workspace, "vs", 1, "TS005: No accounts found; sign in")])

    with pytest.raises(SourceUnavailableError, match=r"not signed in .*TS005.*Azure Service Authentication"):
        _source(workspace).get_token(TokenRequest(VAULT))


def test_a_hung_provider_is_stopped_and_the_next_one_used(workspace: Workspace, azure_emulator: AzureEmulator) -> None:
    workspace.write(
        [
            {"Path": str(workspace.program("hangs")), "Arguments": ["--sleep=600"], "Preference": 0},
            {
                "Path": str(workspace.program("works")),
                "Arguments": _emulator_arguments(azure_emulator, workspace),
                "Preference": 1,
            },
        ]
    )
    source = _source(workspace, azure_emulator, timeout=3.0)

    token = source.get_token(TokenRequest(VAULT))
    assert azure_emulator.issuer.verify(token.access_token)["aud"] == VAULT

    workspace.write([{"Path": str(workspace.program("hangs")), "Arguments": ["--sleep=600"], "Preference": 0}])
    with pytest.raises(AzureServiceTokenProviderError, match=r"Community: did not answer within 3 s and was stopped"):
        source.get_token(TokenRequest(VAULT))


def test_file_is_read_again_when_it_changes(workspace: Workspace, azure_emulator: AzureEmulator) -> None:
    """azure-sdk-for-net#7754: a Visual Studio update moved the program and the old path stuck."""
    old = workspace.program("old")
    workspace.write([{"Path": str(old), "Arguments": _emulator_arguments(azure_emulator, workspace), "Preference": 0}])
    source = _source(workspace, azure_emulator)
    source.get_token(TokenRequest(VAULT))
    source.get_token(TokenRequest(VAULT))  # unchanged file: same program

    old.unlink()  # the update removed the old install's token service
    new = workspace.program("new")
    workspace.write([{"Path": str(new), "Arguments": _emulator_arguments(azure_emulator, workspace), "Preference": 0}])
    before = workspace.file.stat().st_mtime_ns
    os.utime(workspace.file, ns=(before + 1_000_000_000, before + 1_000_000_000))  # coarse clocks
    source.get_token(TokenRequest(VAULT))

    assert workspace.ran() == ["old", "old", "new"]


@pytest.mark.parametrize(
    ("resource", "tenant"),
    [
        ("https://vault.azure.net --tenant evil", None),
        ("https://vault.azure.net&calc.exe", None),
        ("-https://vault.azure.net", None),
        (VAULT, "contoso; rm -rf ~"),
        (VAULT, "--help"),
    ],
)
def test_bad_input_starts_no_program(workspace: Workspace, resource: str, tenant: str | None) -> None:
    workspace.write([_failing(workspace, "p", 0, "should not run")])

    with pytest.raises(InvalidRequestError, match="not in the expected format: only letters"):
        _source(workspace).get_token(TokenRequest(resource, tenant_id=tenant))

    assert workspace.runs() == []


def test_default_file_locations(tmp_path: Path) -> None:
    assert default_token_provider_file({"HOME": str(tmp_path)}, windows=False) == tmp_path / TOKEN_PROVIDER_FILE
    assert TOKEN_PROVIDER_FILE.as_posix() == ".IdentityService/AzureServiceAuth/tokenprovider.json"
    local = tmp_path / "AppData" / "Local"
    assert default_token_provider_file({"LOCALAPPDATA": str(local)}, windows=True) == local / TOKEN_PROVIDER_FILE
    with pytest.raises(SourceUnavailableError, match="LOCALAPPDATA not set"):
        default_token_provider_file({}, windows=True)


def test_default_file_is_looked_up_in_home(tmp_path: Path) -> None:
    source = VisualStudioSource(environ={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")})
    if os.name == "nt":
        pytest.skip("Windows reads LOCALAPPDATA")
    with pytest.raises(SourceUnavailableError, match="not found at") as caught:
        source.get_token(TokenRequest(VAULT))
    assert str(tmp_path / TOKEN_PROVIDER_FILE) in str(caught.value)
    assert source.cache_identity == f"visual-studio:{tmp_path / TOKEN_PROVIDER_FILE}"  # whose file it is


EPOCH = 1_714_564_800  # 2024-05-01T12:00:00Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (EPOCH, EPOCH),
        (float(EPOCH), EPOCH),
        (str(EPOCH), EPOCH),
        ("2024-05-01T12:00:00Z", EPOCH),
        ("2024-05-01T12:00:00+00:00", EPOCH),
        ("2024-05-01T14:00:00+02:00", EPOCH),
        ("2024-05-01T14:00:00+0200", EPOCH),
        ("2024-05-01T12:00:00.1234567+00:00", EPOCH + 0.123456),  # .NET "o": seven fraction digits
        ("2024-05-01T12:00:00.5Z", EPOCH + 0.5),
        # No offset: local time, as .NET's DateTimeOffset parsing assumes.
        ("2024-05-01T12:00:00", dt.datetime(2024, 5, 1, 12).timestamp()),
        ("2024-05-01 12:00:00", dt.datetime(2024, 5, 1, 12).timestamp()),
    ],
)
def test_expires_on_formats(value: object, expected: float) -> None:
    assert parse_expires_on(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "value", [None, True, float("nan"), float("inf"), "soon", "2024-13-01T00:00:00", "5/1/2024 12:00:00 PM", [EPOCH]]
)
def test_bad_expires_on(value: object) -> None:
    with pytest.raises(ValueError, match="expires_on"):
        parse_expires_on(value)
