"""``appauth_core.testing.signed_in_azure_cli`` as a user's test suite would use it: the real ``az`` run by
name from the yielded environment, and what is left behind afterwards."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from appauth_core.testing import AzureEmulator, dead_proxy, signed_in_azure_cli

VAULT = "https://vault.azure.net"
AZ_TIMEOUT = 120  # seconds for one `az` command; each takes well under 2 s here


def _access_token(environ: dict[str, str], resource: str) -> str:
    completed = subprocess.run(
        ["az", "account", "get-access-token", "--resource", resource, "--output", "json"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=AZ_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    token: str = json.loads(completed.stdout)["accessToken"]
    return token


@pytest.mark.azure_cli
def test_az_in_the_environment_gets_emulator_tokens(az_cli: Path, azure_emulator: AzureEmulator) -> None:
    with signed_in_azure_cli(azure_emulator, az_cli) as environ:
        config_dir = Path(environ["AZURE_CONFIG_DIR"])
        token = _access_token(environ, VAULT)  # "az" found on the environment's PATH
        assert config_dir.is_dir()

    claims = azure_emulator.issuer.verify(token)  # raises unless the emulator signed it
    assert (claims["aud"], claims["appid"], claims["tid"]) == (
        VAULT,
        azure_emulator.app.app_id,
        azure_emulator.tenant_id,
    )
    assert azure_emulator.counters["entra.unknown"] == 0  # the CLI asked for nothing the emulator lacks
    assert not config_dir.exists()  # the default configuration folder went with the context


@pytest.mark.azure_cli
def test_a_given_config_dir_is_kept(az_cli: Path, azure_emulator: AzureEmulator, tmp_path: Path) -> None:
    config_dir = tmp_path / "azure-config"
    with signed_in_azure_cli(azure_emulator, az_cli, config_dir) as environ:
        assert environ["AZURE_CONFIG_DIR"] == str(config_dir)

    # The login stays in a folder the caller chose (the emulator's cloud and its one subscription).
    profile = json.loads((config_dir / "azureProfile.json").read_text(encoding="utf-8-sig"))
    assert [s["id"] for s in profile["subscriptions"]] == [azure_emulator.directory.subscription_id]


def test_failing_sign_in_names_the_command(tmp_path: Path, azure_emulator: AzureEmulator) -> None:
    fake = tmp_path / "az"
    fake.write_text("#!/bin/sh\necho 'ERROR: no such cloud' >&2\nexit 2\n")
    fake.chmod(0o755)

    with (
        pytest.raises(RuntimeError, match=r"^`az cloud register` exited 2: ERROR: no such cloud$"),
        signed_in_azure_cli(azure_emulator, fake),
    ):
        pass


def test_missing_az(tmp_path: Path, azure_emulator: AzureEmulator) -> None:
    with (
        pytest.raises(FileNotFoundError, match="install it or pass az_path"),
        signed_in_azure_cli(azure_emulator, tmp_path / "az"),
    ):
        pass


def test_dead_proxy_refuses_connections() -> None:
    with dead_proxy() as proxy:
        host, port = proxy.removeprefix("http://").split(":")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=5)
