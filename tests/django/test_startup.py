"""Issue 15, item 1: start-up never locks users out. With a reference that cannot be read, the commands that
diagnose it (``check``, ``appauth``, ``help``, the ones the app lists) start and say which setting failed;
everything that serves still refuses. (``test_startproject.py`` runs the real ``manage.py``, gunicorn and
uvicorn; these run the same start-up hook in process, with the command line given.)"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from appauth_core.web import unreadable_references
from appauth_django import conf, startup

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


def ref(emulator, name: str) -> str:
    return f"@Microsoft.KeyVault(SecretUri={emulator.vault.url}secrets/{name})"


def found(code: str) -> list[str]:
    return [message.msg for message in run_checks(tags=["appauth"]) if message.id == code]


@pytest.fixture
def broken_reference(appauth_settings, azure_emulator, vault_secrets):
    """A project whose SECRET_KEY reads fine and whose database password names a secret that is not there."""
    appauth_settings.SECRET_KEY = ref(azure_emulator, "django-secret-key")
    appauth_settings.DATABASES = {"default": {"PASSWORD": ref(azure_emulator, "no-such-password")}}
    return appauth_settings


@pytest.mark.parametrize(
    ("args", "mode"),
    [
        ([], "print"),  # manage.py alone prints the help
        (["help"], "print"),
        (["help", "migrate"], "print"),
        (["--help"], "print"),
        (["version"], "print"),
        (["migrate", "--help"], "print"),
        (["check"], "tolerate"),
        (["check", "--deploy", "--tag", "appauth_online"], "tolerate"),
        (["appauth", "whoami"], "tolerate"),
        (["collectstatic", "--noinput"], "serve"),  # not listed by the app
        (["migrate"], "serve"),
        (["runserver"], "serve"),
        (["shell", "-c", "x", "--", "--help"], "serve"),  # after --, --help is the command's own argument
        (None, "serve"),  # gunicorn, uvicorn, mod_wsgi, a test runner: not Django's command-line utility
    ],
)
def test_which_commands_start_with_references_unread(args, mode):
    assert startup.mode_for(args) == mode


def test_the_app_lists_collectstatic_for_its_image_build():
    assert startup.mode_for(["collectstatic", "--noinput"], tolerated={"collectstatic"}) == "tolerate"


def test_a_server_is_not_taken_for_a_command():
    # Under pytest, as under gunicorn or uvicorn, Django is not set up by manage.py.
    assert startup.command_line() is None


def test_check_runs_and_names_the_setting_that_cannot_be_read(broken_reference, azure_emulator, vault_secrets):
    startup.resolve_at_startup(["check"])
    errors = found("appauth.E010")
    assert len(errors) == 1
    assert errors[0].startswith("DATABASES['default']['PASSWORD']: ")
    assert "SecretNotFoundError" in errors[0]
    # Every reference stays as it was (none is half resolved); the one that reads fine is not reported.
    assert ref(azure_emulator, "django-secret-key") == django_settings.SECRET_KEY
    assert all(vault_secrets["django-secret-key"] not in message for message in errors)
    hint = next(m.hint for m in run_checks(tags=["appauth"]) if m.id == "appauth.E010")
    assert "APPAUTH_RESOLVE_REFERENCES=0" in hint and "appauth check" in hint


def test_serving_still_refuses_to_start(broken_reference):
    for args in (None, ["runserver"], ["migrate"]):
        with pytest.raises(ImproperlyConfigured, match=r"DATABASES\['default'\]\['PASSWORD'\]"):
            startup.resolve_at_startup(args)


def test_a_listed_command_runs_with_a_warning_its_own_checks_let_through(broken_reference):
    broken_reference.APPAUTH = {**broken_reference.APPAUTH, "COMMANDS_WITHOUT_SECRETS": ["collectstatic"]}
    startup.resolve_at_startup(["collectstatic", "--noinput"])
    assert found("appauth.E010") == []
    assert [message.split(":")[0] for message in found("appauth.W003")] == ["DATABASES['default']['PASSWORD']"]


def test_a_runserver_listed_as_a_command_without_secrets_is_refused(broken_reference):
    broken_reference.APPAUTH = {**broken_reference.APPAUTH, "COMMANDS_WITHOUT_SECRETS": ["runserver"]}
    assert any("runserver" in message for message in found("appauth.E007"))
    with pytest.raises(ImproperlyConfigured):
        startup.resolve_at_startup(["runserver"])


def test_help_reads_nothing(broken_reference, azure_emulator):
    startup.resolve_at_startup(["help"])
    assert azure_emulator.counters["keyvault"] == 0


def test_the_environment_switch_leaves_references_unresolved_for_ci(broken_reference, azure_emulator, monkeypatch):
    monkeypatch.setenv("APPAUTH_RESOLVE_REFERENCES", "0")
    startup.resolve_at_startup(None)  # even a server: the build asked for it
    assert azure_emulator.counters["keyvault"] == 0
    warnings = found("appauth.W002")
    assert len(warnings) == 1
    assert "APPAUTH_RESOLVE_REFERENCES" in warnings[0] and "DATABASES['default']['PASSWORD']" in warnings[0]


def test_the_environment_switch_wins_over_the_setting(appauth_settings, azure_emulator, vault_secrets, monkeypatch):
    appauth_settings.APPAUTH = {**appauth_settings.APPAUTH, "RESOLVE_REFERENCES": False}
    appauth_settings.SECRET_KEY = ref(azure_emulator, "django-secret-key")
    monkeypatch.setenv("APPAUTH_RESOLVE_REFERENCES", "1")
    startup.resolve_at_startup(None)
    assert vault_secrets["django-secret-key"] == django_settings.SECRET_KEY


def test_a_mistyped_environment_switch_is_an_error(broken_reference, monkeypatch):
    monkeypatch.setenv("APPAUTH_RESOLVE_REFERENCES", "nope")
    with pytest.raises(ImproperlyConfigured, match="APPAUTH_RESOLVE_REFERENCES"):
        startup.resolve_at_startup(["runserver"])
    startup.resolve_at_startup(["check"])
    assert any("'nope'" in message for message in found("appauth.E011"))


def test_a_broken_appauth_is_reported_not_raised_by_check(settings, azure_emulator, azure_emulator_env):
    settings.APPAUTH = {"KEY_VAULT_URL": azure_emulator.vault.url, "SECRET_CACHE_SECONDS": "soon"}
    settings.SECRET_KEY = ref(azure_emulator, "django-secret-key")
    startup.resolve_at_startup(["check"])
    codes = {message.id for message in run_checks(tags=["appauth"])}
    assert {"appauth.E007", "appauth.E010"} <= codes


def test_unreadable_references_names_each_setting_and_never_a_value(appauth_settings, azure_emulator, vault_secrets):
    services = conf.get_services()
    reasons = unreadable_references(
        services,
        {
            "A": ref(azure_emulator, "db-password"),
            "B": ref(azure_emulator, "missing-one"),
            "C[0]": ref(azure_emulator, "missing-one"),
        },
    )
    assert sorted(reasons) == ["B", "C[0]"]
    assert all(vault_secrets["db-password"] not in why for why in reasons.values())
    assert azure_emulator.counters["keyvault.local.get_secret"] == 2  # a reference named twice is read once
