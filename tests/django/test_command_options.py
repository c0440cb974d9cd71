"""Issue 15, item 8: ``manage.py appauth`` takes Django's common options after its subcommand too
(``manage.py appauth check --settings=... -v 2``, as every other command does), and ``--json``."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .servers import REPO, site_env

ARM = "https://management.azure.com/"


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("appauth", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("action", [["whoami"], ["token", "--resource", ARM], ["secret", "db-password"], ["check"]])
def test_common_options_after_the_subcommand(appauth_settings, vault_secrets, action):
    out, _ = run(*action, "--settings=tests.django.settings", "-v", "2", "--no-color", "--traceback")
    assert "[ok]" in out


def test_the_real_command_line_with_settings_and_verbosity_last(azure_emulator, azure_emulator_env):
    env = site_env(azure_emulator.process_env())
    result = subprocess.run(
        [sys.executable, "-m", "django", "appauth", "whoami", "--settings=tests.django.settings", "-v", "2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ok]" in result.stdout and "Signed in via Managed identity" in result.stdout


@pytest.mark.parametrize("action", [["whoami"], ["token", "--resource", ARM], ["secret", "db-password"], ["check"]])
def test_json_for_each_subcommand(appauth_settings, vault_secrets, action):
    out, err = run(*action, "--json")
    report = json.loads(out)
    assert report["ok"] is True and report["exit_code"] == 0
    assert report["lines"][0]["status"] == "ok" and report["lines"][0]["text"]
    assert "raw" not in report
    assert vault_secrets["db-password"] not in out + err


def test_json_with_reveal_carries_the_value_only_when_asked(appauth_settings, vault_secrets):
    out, _ = run("secret", "db-password", "--reveal", "--json")
    assert json.loads(out)["raw"] == vault_secrets["db-password"]


def test_json_for_a_failure_is_still_json_and_exit_code_1(appauth_settings, vault_secrets):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("appauth", "secret", "no-such-secret", "--json", stdout=out, stderr=err)
    assert caught.value.returncode == 1
    report = json.loads(out.getvalue())
    assert report["ok"] is False and report["lines"][0]["status"] == "fail"
    assert "no-such-secret" in report["lines"][0]["text"]
