"""Issue 15, item 2: the checks that sign in run only when asked (``check --deploy --tag appauth_online``, or
``APPAUTH['ONLINE_CHECKS'] = True``); ``check --deploy`` alone is offline, so a CI pipeline with no identity
passes it. Django's own rule: a system check does no I/O unless asked (its database checks wait for
``--database``)."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from .conftest import service_principal


@pytest.fixture
def no_identity(settings, azure_emulator, azure_emulator_env):
    """An identity that cannot sign in: a deploy check that tried would report appauth.E101."""
    settings.APPAUTH = {
        "CONNECTION_STRING": service_principal(azure_emulator, "canary-wrong-key"),
        "AZURE_AD_INSTANCE": azure_emulator.authority,
    }
    return settings


def signed_in(emulator) -> int:
    return emulator.counters["entra"] + emulator.counters["mi"] + emulator.counters["keyvault"]


def test_ci_runs_check_deploy_without_an_identity_and_passes(no_identity, azure_emulator):
    call_command("check", deploy=True)  # raises SystemCheckError on any error
    assert [m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith("appauth.")] == []
    assert signed_in(azure_emulator) == 0


def test_the_online_tag_asks_for_a_real_sign_in(no_identity, azure_emulator):
    with pytest.raises(SystemCheckError, match=r"appauth\.E101") as caught:
        call_command("check", "--deploy", "--tag", "appauth_online")
    assert "canary-wrong-key" not in str(caught.value)
    assert azure_emulator.counters["entra"] > 0


def test_a_setting_asks_for_it_on_every_check_deploy(no_identity, azure_emulator):
    no_identity.APPAUTH = {**no_identity.APPAUTH, "ONLINE_CHECKS": True}
    assert [m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith("appauth.")] == ["appauth.E101"]
    assert [m.id for m in run_checks() if m.id.startswith("appauth.")] == []  # never on a plain check


def test_other_tags_stay_offline(no_identity, azure_emulator):
    found = run_checks(tags=["appauth", "security"], include_deployment_checks=True)
    assert [m.id for m in found if m.id.startswith("appauth.")] == []
    assert signed_in(azure_emulator) == 0


def test_online_checks_must_be_a_flag(settings):
    settings.APPAUTH = {"ONLINE_CHECKS": "yes"}
    assert [m.id for m in run_checks(tags=["appauth"])] == ["appauth.E007"]
