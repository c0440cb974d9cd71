"""The real Azure CLI (2.91) accepts the emulator as a custom cloud: it reads the cloud metadata from the
emulator's ARM, logs a service principal in through the emulator's Entra ID, lists the emulator's one
subscription, and hands out tokens that the emulator's Key Vault accepts.

Every ``az`` runs with its own ``AZURE_CONFIG_DIR`` and with HTTP(S)_PROXY pointing at a loopback port
that is bound but never listens (loopback itself is exempt through NO_PROXY). The CLI checks for updates
at ``azcliprod.blob.core.windows.net`` whenever its version cache is empty; through a proxy that check
is refused on loopback instead of starting a DNS lookup, and so would any other stray call.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from appauth_core.testing.azure_cli import EMULATOR_CLOUD, azure_cli_environ
from appauth_core.testing.azure_cli import dead_proxy as cli_dead_proxy
from appauth_core.testing.emulator import AzureEmulator

pytestmark = pytest.mark.azure_cli

AZ_TIMEOUT = 120  # seconds for one `az` command; each takes well under 2 s here
CLOUD = EMULATOR_CLOUD
VAULT_RESOURCE = "https://vault.azure.net"
STORAGE_RESOURCE = "https://storage.azure.com"
ARM_AUDIENCE = "https://management.core.windows.net/"


@dataclass
class AzCli:
    """The real ``az`` with one configuration directory and a clean, emulator-pointed environment."""

    executable: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [str(self.executable), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=AZ_TIMEOUT,
            check=False,
        )
        if check and completed.returncode != 0:
            # Only the command group is named: the arguments may hold a client secret.
            pytest.fail(
                f"`az {' '.join(args[:2])}` exited {completed.returncode}\n"
                f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
            )
        return completed

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--output", "json").stdout)

    def use_emulator_cloud(self, emulator: AzureEmulator) -> None:
        """Register the emulator as a custom cloud (read from its ARM metadata) and make it current."""
        self.run("cloud", "register", "--name", CLOUD, "--endpoint-resource-manager", emulator.authority)
        self.run("cloud", "set", "--name", CLOUD)
        # The CLI leaves MSAL's instance discovery on for custom clouds; it would ask login.microsoftonline.com.
        self.run("config", "set", "core.instance_discovery=false")

    def login(self, emulator: AzureEmulator, secret: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(
            "login",
            "--service-principal",
            "--username",
            emulator.app.app_id,
            f"--password={secret}",  # attached: a generated secret may begin with "-"
            "--tenant",
            emulator.tenant_id,
            "--output",
            "json",
            check=check,
        )

    def access_token(self, resource: str) -> dict[str, Any]:
        result: dict[str, Any] = self.json("account", "get-access-token", "--resource", resource)
        return result


@pytest.fixture(scope="module")
def dead_proxy() -> Iterator[str]:
    with cli_dead_proxy() as proxy:
        yield proxy


@pytest.fixture
def fresh_az(az_cli: Path, azure_emulator: AzureEmulator, tmp_path: Path, dead_proxy: str) -> AzCli:
    """A CLI that has never seen the emulator: empty configuration directory, no cloud, no login."""
    config_dir = tmp_path / "azure-config"
    config_dir.mkdir()
    return AzCli(az_cli, azure_cli_environ(azure_emulator, config_dir, dead_proxy))


@pytest.fixture(scope="module")
def logged_in_az(
    az_cli: Path,
    azure_emulator_session: AzureEmulator,
    tmp_path_factory: pytest.TempPathFactory,
    dead_proxy: str,
) -> AzCli:
    """One login for the module (``azure_emulator`` is per test; the session emulator is the same one)."""
    emulator = azure_emulator_session
    az = AzCli(az_cli, azure_cli_environ(emulator, tmp_path_factory.mktemp("azure-config"), dead_proxy))
    az.use_emulator_cloud(emulator)
    az.login(emulator, emulator.app.secrets[0])
    return az


def _check_token_reply(reply: dict[str, Any], emulator: AzureEmulator, audience: str) -> dict[str, Any]:
    """The `az account get-access-token` JSON is what azure-identity's AzureCliCredential reads."""
    assert reply["tokenType"] == "Bearer"
    assert reply["tenant"] == emulator.tenant_id
    assert reply["subscription"] == emulator.directory.subscription_id
    expires_on = reply["expires_on"]
    assert isinstance(expires_on, int)
    assert expires_on > time.time() + 60
    # expiresOn is the same instant in the CLI's local time (same TZ as ours), without an offset.
    assert dt.datetime.strptime(reply["expiresOn"], "%Y-%m-%d %H:%M:%S.%f") == dt.datetime.fromtimestamp(expires_on)

    claims = emulator.issuer.verify(reply["accessToken"])  # raises unless the emulator signed it
    assert claims["aud"] == audience
    assert claims["appid"] == emulator.app.app_id
    assert claims["oid"] == emulator.app.object_id
    assert claims["tid"] == emulator.tenant_id
    assert claims["iss"] == f"https://sts.windows.net/{emulator.tenant_id}/"
    # MSAL computes expires_on as its own clock + expires_in: a second either side of the JWT's exp.
    assert abs(claims["exp"] - expires_on) <= 5
    return claims


def test_cli_logs_in_through_the_emulator_and_gets_tokens(fresh_az: AzCli, azure_emulator: AzureEmulator) -> None:
    emulator = azure_emulator

    fresh_az.use_emulator_cloud(emulator)
    assert emulator.counters["arm.metadata"] >= 1  # `cloud register` read GET /metadata/endpoints
    cloud = fresh_az.json("cloud", "show", "--name", CLOUD)
    assert cloud["isActive"] is True
    assert cloud["endpoints"]["resourceManager"] == emulator.authority
    assert cloud["endpoints"]["activeDirectory"] == emulator.authority.rstrip("/")

    # No --allow-no-subscriptions: the emulator's ARM lists one subscription for its tenant.
    accounts = json.loads(fresh_az.login(emulator, emulator.app.secrets[0]).stdout)
    assert emulator.counters["arm.subscriptions"] >= 1
    assert [account["id"] for account in accounts] == [emulator.directory.subscription_id]
    account = accounts[0]
    assert account["tenantId"] == emulator.tenant_id
    assert account["homeTenantId"] == emulator.tenant_id
    assert account["cloudName"] == CLOUD
    assert account["isDefault"] is True
    assert account["state"] == "Enabled"
    assert account["user"] == {"name": emulator.app.app_id, "type": "servicePrincipal"}

    token_requests_after_login = emulator.counters["entra.token"]
    assert token_requests_after_login >= 1  # the ARM token `az login` used to list subscriptions

    reply = fresh_az.access_token(VAULT_RESOURCE)
    claims = _check_token_reply(reply, emulator, VAULT_RESOURCE)
    assert claims["appidacr"] == "1"  # authenticated with a client secret
    assert emulator.counters["entra.token"] == token_requests_after_login + 1
    assert emulator.counters["entra.unknown"] == 0  # the CLI asked for nothing the emulator lacks

    # Without --resource the CLI returns its ARM token from the login.
    _check_token_reply(fresh_az.json("account", "get-access-token"), emulator, ARM_AUDIENCE)


def test_wrong_secret_fails_login_with_aadsts7000215(fresh_az: AzCli, azure_emulator: AzureEmulator) -> None:
    emulator = azure_emulator
    fresh_az.use_emulator_cloud(emulator)
    wrong_secret = secrets.token_urlsafe(32)
    assert not emulator.app.secret_matches(wrong_secret)

    result = fresh_az.login(emulator, wrong_secret, check=False)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "AADSTS7000215" in output
    assert emulator.app.secrets[0] not in output
    assert emulator.counters["entra.token"] >= 1
    assert emulator.counters["arm.subscriptions"] == 0  # no token, so no subscription lookup
    not_logged_in = fresh_az.run("account", "show", check=False)
    assert not_logged_in.returncode != 0
    assert "az login" in not_logged_in.stderr


def test_cli_token_reads_a_secret_from_the_emulator_vault(logged_in_az: AzCli, azure_emulator: AzureEmulator) -> None:
    emulator = azure_emulator
    name = f"az-cli-{uuid.uuid4().hex[:12]}"
    value = secrets.token_urlsafe(24)
    emulator.vault.set_secret(name, value)
    # `az keyvault secret show` needs a *.vault.azure.net name; an IP vault URL is called directly.
    token = logged_in_az.access_token(VAULT_RESOURCE)["accessToken"]
    url = f"{emulator.vault.url}secrets/{name}/?api-version=7.5"

    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, verify=str(emulator.ca_path), timeout=30)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["value"] == value
    assert body["id"].startswith(f"{emulator.vault.url}secrets/{name}/")

    # The CLI's ARM token is for another audience: the vault refuses it.
    arm_token = logged_in_az.json("account", "get-access-token")["accessToken"]
    refused = requests.get(
        url, headers={"Authorization": f"Bearer {arm_token}"}, verify=str(emulator.ca_path), timeout=30
    )
    assert refused.status_code == 401
    assert "AKV10022" in refused.text


def test_cli_caches_emulator_tokens_until_they_expire(logged_in_az: AzCli, azure_emulator: AzureEmulator) -> None:
    """MSAL inside the CLI stores the emulator's token reply and serves the next call from its cache."""
    emulator = azure_emulator
    first = logged_in_az.access_token(STORAGE_RESOURCE)
    _check_token_reply(first, emulator, STORAGE_RESOURCE)
    assert emulator.counters["entra.token"] == 1

    second = logged_in_az.access_token(STORAGE_RESOURCE)

    assert second["accessToken"] == first["accessToken"]
    assert abs(second["expires_on"] - first["expires_on"]) <= 5  # recomputed from the cache entry
    assert emulator.counters["entra.token"] == 1
