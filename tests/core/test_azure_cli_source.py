"""AzureCliSource against the real Azure CLI signed in to the emulator, and against small fake ``az``
scripts (real processes) for what the real CLI cannot be made to do: hang, print old output, leak."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import requests

from appauth_core.errors import AzureServiceTokenProviderError, InvalidRequestError, SourceUnavailableError
from appauth_core.testing.azure_cli import EMULATOR_CLOUD, signed_in_azure_cli
from appauth_core.testing.emulator import AzureEmulator
from appauth_core.tokens.sources._azure_cli import AzureCliSource, CliAccount
from appauth_core.tokens.sources._base import TokenRequest, TokenSource
from appauth_core.tokens.sources._developer_tools import find_executable, sanitize_output

VAULT = "https://vault.azure.net"
STORAGE = "https://storage.azure.com"
JWT_LOOKALIKE = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJl"

# --- the real CLI, signed in to the emulator ---------------------------------------------------------


@pytest.fixture(scope="module")
def signed_in_environ(az_cli: Path, azure_emulator_session: AzureEmulator) -> Iterator[dict[str, str]]:
    """The environment of a CLI signed in to the emulator as its service principal (one login per module)."""
    with signed_in_azure_cli(azure_emulator_session, az_cli) as environ:
        yield environ


@pytest.fixture
def cli(az_cli: Path, signed_in_environ: dict[str, str]) -> AzureCliSource:
    return AzureCliSource(cli_path=str(az_cli.parent), environ=signed_in_environ)


@pytest.mark.azure_cli
def test_token_from_the_real_cli(cli: AzureCliSource, azure_emulator: AzureEmulator) -> None:
    emulator = azure_emulator

    token = cli.get_token(TokenRequest(STORAGE))

    claims = emulator.issuer.verify(token.access_token)  # raises unless the emulator signed it
    assert (claims["aud"], claims["appid"], claims["tid"]) == (STORAGE, emulator.app.app_id, emulator.tenant_id)
    # MSAL inside the CLI computes expires_on as its clock + expires_in: a second either side of exp.
    assert abs(claims["exp"] - token.expires_on) <= 5
    assert token.token_type == "Bearer"


@pytest.mark.azure_cli
def test_vault_token_reads_a_secret(cli: AzureCliSource, azure_emulator: AzureEmulator) -> None:
    emulator = azure_emulator
    name = f"cli-source-{uuid.uuid4().hex[:12]}"
    emulator.vault.set_secret(name, "from the Azure CLI source")

    token = cli.get_token(TokenRequest(VAULT))
    response = requests.get(
        f"{emulator.vault.url}secrets/{name}/?api-version=7.5",
        headers={"Authorization": f"Bearer {token.access_token}"},
        verify=str(emulator.ca_path),
        timeout=30,
    )

    assert response.status_code == 200, response.text
    assert response.json()["value"] == "from the Azure CLI source"


@pytest.mark.azure_cli
def test_tenant_is_passed_to_the_cli(cli: AzureCliSource, azure_emulator: AzureEmulator) -> None:
    emulator = azure_emulator
    token = cli.get_token(TokenRequest(VAULT, tenant_id=emulator.tenant_id))
    assert emulator.issuer.verify(token.access_token)["tid"] == emulator.tenant_id

    # A tenant the emulator does not know: MSAL inside the CLI fails to discover that tenant's authority.
    unknown = str(uuid.uuid4())
    with pytest.raises(AzureServiceTokenProviderError, match=f"authority configuration for .*/{unknown}") as caught:
        cli.get_token(TokenRequest(VAULT, tenant_id=unknown))
    assert not isinstance(caught.value, SourceUnavailableError)  # signed in; Entra ID refused
    assert caught.value.authority == f"https://login.microsoftonline.com/{unknown}"


@pytest.mark.azure_cli
def test_signed_in_account(cli: AzureCliSource, azure_emulator: AzureEmulator) -> None:
    account = cli.signed_in_account()
    assert account == CliAccount(
        user_name=azure_emulator.app.app_id,
        user_type="servicePrincipal",
        tenant_id=azure_emulator.tenant_id,
        subscription_id=azure_emulator.directory.subscription_id,
        cloud_name=EMULATOR_CLOUD,
    )


@pytest.mark.azure_cli
def test_signed_out_cli_says_az_login(az_cli: Path, signed_in_environ: dict[str, str], tmp_path: Path) -> None:
    environ = {**signed_in_environ, "AZURE_CONFIG_DIR": str(tmp_path)}  # a configuration folder never signed in
    source = AzureCliSource(cli_path=str(az_cli.parent), environ=environ)

    with pytest.raises(SourceUnavailableError, match="not signed in: run `az login`") as caught:
        source.get_token(TokenRequest(VAULT))

    assert (caught.value.method, caught.value.resource) == ("Azure CLI", VAULT)
    assert source.signed_in_account() is None


# --- fake `az` programs --------------------------------------------------------------------------------


def _fake_az(folder: Path, body: str) -> Path:
    """An executable ``az`` shell script in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "az"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _printing(folder: Path, payload: Mapping[str, object], record: Path | None = None) -> Path:
    """A fake az that records its arguments (one per line) and prints ``payload``."""
    recording = f'printf "%s\\n" "$@" > "{record}"\n' if record else ""
    return _fake_az(folder, f"{recording}cat <<'EOF'\n{json.dumps(payload)}\nEOF\n")


def _environ(*folders: Path, **extra: str) -> dict[str, str]:
    """No az on PATH except in ``folders``; /bin and /usr/bin stay for the scripts' own tools."""
    base = [str(f) for f in folders] + ["/usr/bin", "/bin"]
    return {"PATH": os.pathsep.join(base), **extra}


@pytest.fixture(autouse=True)
def _no_az_in_system_folders(request: pytest.FixtureRequest) -> None:
    if "azure_cli" not in request.keywords and find_executable("az", "/usr/bin:/bin"):
        pytest.skip("an az in /usr/bin or /bin would be found by the fake-az tests")


def test_is_a_token_source(tmp_path: Path) -> None:
    source = AzureCliSource(environ={"HOME": str(tmp_path)})
    assert isinstance(source, TokenSource)
    assert source.name == "Azure CLI"
    # The configuration folder holds the signed-in account: it is the identity a cached token belongs to.
    assert source.cache_identity == f"azure-cli:{tmp_path / '.azure'}"
    explicit = AzureCliSource(environ={"HOME": str(tmp_path), "AZURE_CONFIG_DIR": str(tmp_path / "cfg")})
    assert explicit.cache_identity == f"azure-cli:{tmp_path / 'cfg'}"


def test_cli_not_installed(tmp_path: Path) -> None:
    empty_cli_path, empty_path = tmp_path / "cli", tmp_path / "path"
    empty_cli_path.mkdir()
    empty_path.mkdir()
    source = AzureCliSource(cli_path=str(empty_cli_path), environ={"PATH": str(empty_path)})

    with pytest.raises(SourceUnavailableError, match="Azure CLI not found on PATH; install it or set AzureCLIPath"):
        source.get_token(TokenRequest(VAULT))


def test_azure_cli_path_variable_is_searched_first(tmp_path: Path) -> None:
    record = tmp_path / "args"
    _printing(tmp_path / "on-path", {"accessToken": "wrong one", "expires_on": 1})
    _printing(tmp_path / "cli", {"accessToken": "tok", "expires_on": 1_900_000_000}, record)
    environ = _environ(tmp_path / "on-path", AzureCLIPath=str(tmp_path / "cli"))

    token = AzureCliSource(environ=environ).get_token(TokenRequest(VAULT, tenant_id="contoso.onmicrosoft.com"))

    assert (token.access_token, token.expires_on) == ("tok", 1_900_000_000)
    expected = ["account", "get-access-token", "--output", "json", "--resource", VAULT]
    assert record.read_text().splitlines() == [*expected, "--tenant", "contoso.onmicrosoft.com"]


def test_relative_path_entries_are_not_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An az planted in the working directory must not run through an empty or "." PATH entry."""
    _printing(tmp_path, {"accessToken": "planted", "expires_on": 1})
    monkeypatch.chdir(tmp_path)
    source = AzureCliSource(cli_path=".", environ={"PATH": "::.:/usr/bin:/bin"})

    with pytest.raises(SourceUnavailableError, match="not found"):
        source.get_token(TokenRequest(VAULT))


def test_cli_environment(tmp_path: Path) -> None:
    record = tmp_path / "seen"
    _fake_az(
        tmp_path / "cli",
        f'{{ echo "$AZURE_CORE_NO_COLOR"; echo "$AZURE_CORE_COLLECT_TELEMETRY"; echo "$AZURE_CONFIG_DIR";'
        f' echo "$PATH"; readlink /proc/self/fd/0; }} > "{record}"\n'
        'echo \'{"accessToken": "tok", "expires_on": 1900000000}\'\n',
    )
    environ = _environ(tmp_path / "elsewhere", AZURE_CORE_COLLECT_TELEMETRY="true", HOME=str(tmp_path))

    AzureCliSource(cli_path=str(tmp_path / "cli"), environ=environ).get_token(TokenRequest(VAULT))

    no_color, telemetry, config_dir, path, stdin = record.read_text().splitlines()
    assert (no_color, telemetry) == ("true", "true")  # colour off; the user's telemetry choice kept
    assert config_dir == str(tmp_path / ".azure")  # the folder the cache identity names, given explicitly
    assert path.split(os.pathsep)[:2] == [str(tmp_path / "cli"), str(tmp_path / "elsewhere")]
    if Path("/proc/self/fd/0").exists():
        assert stdin == "/dev/null"  # the CLI can never sit waiting for a prompt answer


@pytest.mark.parametrize(
    ("resource", "tenant", "problem"),
    [
        ("https://vault.azure.net; touch pwned", None, "Resource"),
        ("https://vault.azure.net$(id)", None, "Resource"),
        ("https://vault.azure.net --tenant x", None, "Resource"),
        ("--help", None, "Resource"),
        ("", None, "Resource"),
        (VAULT, "contoso&calc", "Tenant"),
        (VAULT, "../tenant", "Tenant"),
        (VAULT, "-x", "Tenant"),
        (VAULT, "", "Tenant"),
    ],
)
def test_bad_resource_or_tenant_starts_no_process(
    tmp_path: Path, resource: str, tenant: str | None, problem: str
) -> None:
    marker = tmp_path / "started"
    _fake_az(tmp_path / "cli", f'touch "{marker}"\necho \'{{"accessToken": "t", "expires_on": 1}}\'\n')
    source = AzureCliSource(cli_path=str(tmp_path / "cli"), environ=_environ())

    with pytest.raises(InvalidRequestError, match=f"{problem} .* is not in the expected format: only letters"):
        source.get_token(TokenRequest(resource, tenant_id=tenant))
    assert not marker.exists()

    source.get_token(TokenRequest(VAULT))  # the same fake does run for a good request
    assert marker.exists()


def test_old_cli_expires_on_local_time(tmp_path: Path) -> None:
    expires = 1_900_000_000
    local = dt.datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M:%S.%f")  # what az < 2.54 printed
    payload = {"accessToken": "tok", "expiresOn": local, "subscription": "s", "tenant": "t", "tokenType": "Bearer"}
    _printing(tmp_path / "cli", payload)

    token = AzureCliSource(cli_path=str(tmp_path / "cli"), environ=_environ()).get_token(TokenRequest(VAULT))

    assert token.expires_on == expires


@pytest.mark.parametrize("epoch", [1_900_000_000, "1900000000"])
def test_expires_on_wins_over_expires_on_local(tmp_path: Path, epoch: object) -> None:
    payload = {"accessToken": "tok", "expiresOn": "2001-01-01 00:00:00.000000", "expires_on": epoch}
    _printing(tmp_path / "cli", payload)

    token = AzureCliSource(cli_path=str(tmp_path / "cli"), environ=_environ()).get_token(TokenRequest(VAULT))

    assert token.expires_on == 1_900_000_000


@pytest.mark.parametrize(
    ("stdout", "reason"),
    [
        ("WARNING: not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"expires_on": 1}), "no accessToken"),
        (json.dumps({"accessToken": JWT_LOOKALIKE}), "no expires_on or expiresOn"),
        (json.dumps({"accessToken": JWT_LOOKALIKE, "expires_on": "soon"}), "expires_on is not a number"),
        (json.dumps({"accessToken": JWT_LOOKALIKE, "expires_on": "nan"}), "expires_on is not a number"),
        (json.dumps({"accessToken": JWT_LOOKALIKE, "expiresOn": "tomorrow"}), "expiresOn is not a date"),
    ],
)
def test_output_that_is_not_a_token(tmp_path: Path, stdout: str, reason: str) -> None:
    _fake_az(tmp_path / "cli", f"cat <<'EOF'\n{stdout}\nEOF\n")
    source = AzureCliSource(cli_path=str(tmp_path / "cli"), environ=_environ())

    with pytest.raises(AzureServiceTokenProviderError, match="not a token") as caught:
        source.get_token(TokenRequest(VAULT))

    assert reason in str(caught.value)
    assert JWT_LOOKALIKE not in str(caught.value)


def test_hung_cli_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    # The script starts a child, as the real az starts Python: the whole group must be stopped.
    _fake_az(tmp_path / "cli", f'sleep 600 &\necho $! > "{pid_file}"\nwait\n')
    source = AzureCliSource(cli_path=str(tmp_path / "cli"), timeout=1.0, environ=_environ())

    with pytest.raises(AzureServiceTokenProviderError, match="did not answer within 1 s and was stopped") as caught:
        source.get_token(TokenRequest(VAULT))

    assert not isinstance(caught.value, SourceUnavailableError)
    assert _gone(int(pid_file.read_text()))


def _gone(pid: int) -> bool:
    """The process is dead (or a zombie awaiting its new parent); waits up to 10 s for init to reap it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        status = Path(f"/proc/{pid}/stat")
        if status.exists() and status.read_text().split(") ")[-1].startswith("Z"):
            return True
        time.sleep(0.05)
    return False


def test_failure_stderr_is_sanitised(tmp_path: Path) -> None:
    noise = "WARNING: " + "x" * 5000
    _fake_az(
        tmp_path / "cli",
        f"cat >&2 <<'EOF'\n{noise}\nERROR: AADSTS7000222: secret expired. Debug: "
        f'{{"accessToken": "opaque-secret-token", "tokenType": "Bearer"}} Authorization: Bearer {JWT_LOOKALIKE}\n'
        "EOF\nexit 1\n",
    )
    source = AzureCliSource(cli_path=str(tmp_path / "cli"), environ=_environ())

    with pytest.raises(AzureServiceTokenProviderError) as caught:
        source.get_token(TokenRequest(VAULT))

    message = str(caught.value)
    assert not isinstance(caught.value, SourceUnavailableError)
    assert message.startswith("Azure CLI could not get a token (exit code 1): ... ")
    assert "ERROR: AADSTS7000222: secret expired." in message
    assert "opaque-secret-token" not in message
    assert JWT_LOOKALIKE not in message
    assert '"accessToken": "<redacted>"' in message
    assert "Bearer <redacted token>" in message
    assert len(message) < 1000


@pytest.mark.parametrize(
    ("stderr", "unavailable"),
    [
        ("ERROR: Please run 'az login' to setup account.", True),
        ("ERROR: Subscription 'x' not found. Check the spelling, or run 'az account set'.", True),
        ("ERROR: AADSTS70043: The refresh token has expired. Please run 'az login'.", False),
    ],
)
def test_signed_out_is_told_apart_from_entra_errors(tmp_path: Path, stderr: str, unavailable: bool) -> None:
    _fake_az(tmp_path / "cli", f'echo "{stderr}" >&2\nexit 1\n')
    source = AzureCliSource(cli_path=str(tmp_path / "cli"), environ=_environ())

    with pytest.raises(AzureServiceTokenProviderError) as caught:
        source.get_token(TokenRequest(VAULT))

    assert isinstance(caught.value, SourceUnavailableError) is unavailable
    assert ("run `az login`" in str(caught.value)) is unavailable
    assert stderr in str(caught.value)


def test_exit_127_means_not_installed(tmp_path: Path) -> None:
    _fake_az(tmp_path / "cli", "echo 'python3: not found' >&2\nexit 127\n")
    source = AzureCliSource(cli_path=str(tmp_path / "cli"), environ=_environ())

    with pytest.raises(SourceUnavailableError, match="not found on PATH"):
        source.get_token(TokenRequest(VAULT))


def test_unstartable_cli(tmp_path: Path) -> None:
    script = _fake_az(tmp_path / "cli", "")
    script.write_text("#!/nonexistent/interpreter\n")
    source = AzureCliSource(cli_path=str(tmp_path / "cli"), environ=_environ())

    with pytest.raises(SourceUnavailableError, match="could not be started"):
        source.get_token(TokenRequest(VAULT))


def test_sanitize_output_keeps_the_end() -> None:
    text = "start " + "y" * 2000 + " ERROR: the part that matters"
    cleaned = sanitize_output(text, limit=100)
    assert cleaned.endswith("ERROR: the part that matters")
    assert cleaned.startswith("... ")
    assert len(cleaned) == 104
    assert sanitize_output(f"{{'access_token': 'x'}} \"access_token\" : \"{JWT_LOOKALIKE}\" client_secret=abc&b=1") == (
        "{'access_token': '<redacted>'} \"access_token\" : \"<redacted>\" client_secret=<redacted>&b=1"
    )
