"""APIs, app-role assignments and signing keys steered over the control API: in-process with requests, and
from a shell with ``python -m appauth_core.testing api|assign-role|rotate-key|retire-keys`` against an
emulator running in another process, whose tokens a real client then gets."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from azure.identity import ManagedIdentityCredential

from appauth_core.testing._control import CONTROL_KEY_HEADER

from .published_keys import Published, verified_claims
from .test_cli import _read_env, running  # noqa: F401 - the running emulator process fixture

CLI_TIMEOUT = 60  # seconds: a hang guard, not a timing


@pytest.fixture
def control(azure_emulator):
    session = requests.Session()
    session.headers[CONTROL_KEY_HEADER] = azure_emulator.control.key
    yield lambda method, path, **kw: session.request(method, azure_emulator.control_url + path, timeout=10, **kw)
    session.close()


def test_register_assign_and_use_over_the_control_api(azure_emulator, azure_emulator_env, control):
    uri = f"api://controlled-{uuid.uuid4().hex[:8]}"
    created = control("POST", "apis", json={"app_id_uri": uri, "roles": ["Orders.Read"], "version": 2})
    assert created.status_code == 201, created.text
    api = created.json()
    assert api["app_id_uri"] == uri
    assert api["version"] == 2
    assert api["tenant_id"] == azure_emulator.tenant_id
    assert uri in [listed["app_id_uri"] for listed in control("GET", "apis").json()]
    assigned = control("POST", "role-assignments", json={"api": uri, "principal": "system", "role": "Orders.Read"})
    assert assigned.status_code == 201, assigned.text
    token = ManagedIdentityCredential().get_token(f"{uri}/.default").token
    claims = verified_claims(azure_emulator, token, audience=api["app_id"], version=2)
    assert claims["roles"] == ["Orders.Read"]
    assert claims["azp"] == azure_emulator.directory.system_identity.client_id


def test_control_api_mistakes_are_400s_that_say_what_was_wrong(azure_emulator, control):
    uri = f"api://controlled-{uuid.uuid4().hex[:8]}"
    assert control("POST", "apis", json={"app_id_uri": uri, "version": 3}).json()["error"].startswith("version")
    assert control("POST", "apis", json={"app_id_uri": uri, "colour": "red"}).status_code == 400
    control("POST", "apis", json={"app_id_uri": uri, "roles": ["A"]})
    unknown_role = control("POST", "role-assignments", json={"api": uri, "principal": "app", "role": "B"})
    assert unknown_role.status_code == 400
    assert "no app role 'B'" in unknown_role.json()["error"]
    nobody = control("POST", "role-assignments", json={"api": uri, "principal": str(uuid.uuid4()), "role": "A"})
    assert "no principal" in nobody.json()["error"]
    no_api = control("POST", "role-assignments", json={"api": "api://nothing-here", "principal": "app", "role": "A"})
    assert "no API 'api://nothing-here'" in no_api.json()["error"]


def _cli(env_file, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appauth_core.testing", arguments[0], "--env-file", str(env_file), *arguments[1:]],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def test_the_cli_registers_apis_assigns_roles_and_rotates_keys(running, monkeypatch):  # noqa: F811
    _, env_file = running
    env = _read_env(env_file)
    registered = _cli(env_file, "api", "api://orders", "--role", "Orders.Read", "--role", "Orders.Write")
    assert registered.returncode == 0, registered.stderr
    api = json.loads(registered.stdout)
    assert api["roles"] == ["Orders.Read", "Orders.Write"]
    assert api["version"] == 1
    assigned = _cli(env_file, "assign-role", "api://orders", "system", "Orders.Write")
    assert assigned.returncode == 0, assigned.stderr

    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.setenv(name, env[name])
    ca = env["APPAUTH_EMULATOR_CA"]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    before = ManagedIdentityCredential().get_token("api://orders/.default").token

    rotated = _cli(env_file, "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = json.loads(rotated.stdout)["kid"]
    retired = _cli(env_file, "retire-keys")
    assert retired.returncode == 0, retired.stderr
    assert len(json.loads(retired.stdout)["retired"]) == 1

    after = ManagedIdentityCredential().get_token("api://orders/.default").token
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    emulator = Published(env["APPAUTH_EMULATOR_AUTHORITY"], Path(ca))
    claims = verified_claims(emulator, after, audience="api://orders", version=1)
    assert claims["roles"] == ["Orders.Write"]
    with pytest.raises(jwt.PyJWKClientError):  # signed by the retired key
        verified_claims(emulator, before, audience="api://orders", version=1)


def test_the_cli_prints_the_control_apis_refusal(running):  # noqa: F811
    _, env_file = running
    refused = _cli(env_file, "assign-role", "api://never-registered", "app", "Orders.Read")
    assert refused.returncode == 2
    assert (
        refused.stderr.strip() == "error: no API 'api://never-registered' in the tenant: register it first (POST /apis)"
    )
