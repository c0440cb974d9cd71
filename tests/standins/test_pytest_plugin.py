"""The fixtures a user gets by installing appauth, exercised from a user's own test suite."""

from __future__ import annotations

USER_TESTS = """
import os
import requests

def test_env_points_at_the_emulator(azure_emulator_env, azure_emulator):
    assert os.environ["IDENTITY_ENDPOINT"] == azure_emulator.app_service_env()["IDENTITY_ENDPOINT"]
    assert os.environ["REQUESTS_CA_BUNDLE"] == str(azure_emulator.ca_bundle_path)
    assert "AZURE_CLIENT_SECRET" not in os.environ
    reply = requests.get(os.environ["APPAUTH_EMULATOR_AUTHORITY"] + os.environ["APPAUTH_EMULATOR_TENANT_ID"]
                         + "/v2.0/.well-known/openid-configuration", timeout=10)
    assert reply.status_code == 200

def test_faults_do_not_leak_between_tests_part_1(azure_emulator):
    azure_emulator.faults.inject("entra", status=500, times=5)

def test_faults_do_not_leak_between_tests_part_2(azure_emulator):
    assert azure_emulator.faults.pending() == []
    assert azure_emulator.counters.snapshot() == {}

def test_environment_is_restored():
    assert os.environ.get("IDENTITY_ENDPOINT") == "from-the-user-shell"
    assert os.environ.get("AZURE_CLIENT_SECRET") == "users-own"
"""


def test_user_suite_gets_working_fixtures(pytester, monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", "from-the-user-shell")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "users-own")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
