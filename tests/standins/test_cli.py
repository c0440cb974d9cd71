"""`python -m appauth_core.testing` as a user runs it: a real process, an env file, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

READY_WITHIN = 15  # seconds; it is ready in well under one, this only bounds a broken run


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        env[name] = json.loads(value) if value.startswith('"') else value
    return env


@pytest.fixture
def running(tmp_path):
    env_file = tmp_path / "emulator.env"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appauth_core.testing",
            "--env-file",
            str(env_file),
            "--secret",
            "db-password=correct horse",
            "--secret",
            "banner=hello=world",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + READY_WITHIN
    while not env_file.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "emulator did not write its env file in time"
        time.sleep(0.05)
    yield process, env_file
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_env_file_lists_everything_a_client_needs(running):
    _, env_file = running
    env = _read_env(env_file)
    expected = {
        "APPAUTH_EMULATOR_CA",
        "APPAUTH_EMULATOR_AUTHORITY",
        "APPAUTH_EMULATOR_TENANT_ID",
        "APPAUTH_EMULATOR_APP_ID",
        "APPAUTH_EMULATOR_APP_SECRET",
        "APPAUTH_EMULATOR_VAULT_URL",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    }
    assert expected <= env.keys()
    assert env["APPAUTH_EMULATOR_AUTHORITY"].startswith("https://127.0.0.1:")
    assert env["APPAUTH_EMULATOR_AUTHORITY"].endswith("/")
    assert env["APPAUTH_EMULATOR_VAULT_URL"].startswith("https://127.0.0.1:")
    assert env["IDENTITY_ENDPOINT"].startswith("http://127.0.0.1:")
    assert Path(env["APPAUTH_EMULATOR_CA"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"  # it holds a client secret


def test_seeded_secrets_are_served_to_a_real_sdk_client(running, monkeypatch):
    from azure.identity import ClientSecretCredential
    from azure.keyvault.secrets import SecretClient

    _, env_file = running
    env = _read_env(env_file)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", env["APPAUTH_EMULATOR_CA_BUNDLE"])
    credential = ClientSecretCredential(
        env["APPAUTH_EMULATOR_TENANT_ID"],
        env["APPAUTH_EMULATOR_APP_ID"],
        env["APPAUTH_EMULATOR_APP_SECRET"],
        authority=env["APPAUTH_EMULATOR_AUTHORITY"],
        disable_instance_discovery=True,
    )
    client = SecretClient(env["APPAUTH_EMULATOR_VAULT_URL"], credential, verify_challenge_resource=False)
    assert client.get_secret("db-password").value == "correct horse"
    assert client.get_secret("banner").value == "hello=world"


def test_managed_identity_from_the_env_file(running):
    _, env_file = running
    env = _read_env(env_file)
    reply = requests.get(
        env["IDENTITY_ENDPOINT"],
        params={"api-version": "2019-08-01", "resource": "https://vault.azure.net"},
        headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]},
        timeout=10,
    )
    assert reply.status_code == 200
    assert reply.json()["token_type"] == "Bearer"


def test_faults_and_counters_from_the_command_line(running):
    _, env_file = running
    env = _read_env(env_file)
    cli = [sys.executable, "-m", "appauth_core.testing"]
    subprocess.run(
        [
            *cli,
            "fault",
            "--env-file",
            str(env_file),
            "mi.imds",
            "--status",
            "503",
            "--retry-after",
            "7",
            "--times",
            "2",
        ],
        check=True,
        timeout=30,
    )
    url = env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] + "/metadata/identity/oauth2/token"
    params = {"api-version": "2018-02-01", "resource": "https://vault.azure.net"}
    statuses = [requests.get(url, params=params, headers={"Metadata": "true"}, timeout=10) for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].headers["Retry-After"] == "7"
    counters = subprocess.run(
        [*cli, "counters", "--env-file", str(env_file)], check=True, capture_output=True, text=True, timeout=30
    )
    assert json.loads(counters.stdout)["mi.imds"] == 3


def test_ctrl_c_stops_it_cleanly(running):
    process, _ = running
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "stopping" in out
    assert "Traceback" not in err


def test_bad_secret_argument_is_a_clear_usage_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "appauth_core.testing", "--secret", "no-equals-sign"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
    )
    assert result.returncode == 2
    assert "--secret takes NAME=VALUE" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "appauth_core.testing", "--secret", "bad_name=x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "invalid Key Vault secret name 'bad_name'" in result.stderr
