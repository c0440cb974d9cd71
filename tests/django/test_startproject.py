"""A fresh ``django-admin startproject`` site, set up exactly as the Django guide (docs/django.md) says (its
code blocks are appended to the generated settings.py), checked, diagnosed and served by gunicorn."""

from __future__ import annotations

import re
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from appauth_core.testing.emulator import AzureEmulator

from .servers import BIN, REPO, free_port, gunicorn_command, serving, site_env, uvicorn_command

README_VAULT = "https://myvault.vault.azure.net/"
SECRETS = {
    "django-secret-key": "startproject-secret-key-0123456789abcdefghijklmnop",
    "public-banner": "Welcome <to> the new site",
    "sentry-dsn": "https://public@sentry.example/1",
    "smtp-user": "mailer",
    "smtp-password": "startproject-smtp-password",
}


def readme_block(containing: str) -> str:
    """The Django guide's (docs/django.md) python block that contains ``containing``."""
    text = (REPO / "docs" / "django.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    matches = [block for block in blocks if containing in block]
    assert len(matches) == 1, f"docs/django.md should have one python block with {containing!r}"
    return matches[0]


def run(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def new_site(tmp_path: Path, azure_emulator: AzureEmulator) -> tuple[Path, dict[str, str]]:
    for name, value in SECRETS.items():
        azure_emulator.vault.set_secret(name, value)
    env = site_env(azure_emulator.process_env())
    return start_project(tmp_path, env, azure_emulator.vault.url), env


@pytest.fixture
def site_with_the_vault_down(tmp_path: Path, azure_emulator: AzureEmulator) -> tuple[Path, dict[str, str]]:
    """The README's site, its vault a loopback address where nothing listens (the identity still works)."""
    env = site_env(azure_emulator.process_env())
    return start_project(tmp_path, env, f"https://127.0.0.1:{free_port()}/"), env


def start_project(tmp_path: Path, env: dict[str, str], vault: str) -> Path:
    """``django-admin startproject`` set up as the README says, with ``vault`` as its vault."""
    created = run([str(BIN / "django-admin"), "startproject", "mysite", str(tmp_path)], cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    settings = tmp_path / "mysite" / "settings.py"
    # What the README says to add, with its example vault replaced by the emulator's.
    additions = [readme_block("INSTALLED_APPS +="), readme_block("keyvault_secret(")]
    settings.write_text(
        settings.read_text() + "\n" + "\n".join(block.replace(README_VAULT, vault) for block in additions)
    )
    # The site's own page (user code, not appauth set-up): a template using the tag.
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "banner.html").write_text(
        '{% load appauth %}<p class="banner">{% keyvault_secret "public-banner" %}</p>'
    )
    settings.write_text(settings.read_text() + '\nTEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]\n')
    urls = tmp_path / "mysite" / "urls.py"
    urls.write_text(
        urls.read_text()
        + "\nfrom django.views.generic import TemplateView\n"
        + 'urlpatterns += [path("banner/", TemplateView.as_view(template_name="banner.html"))]\n'
    )
    return tmp_path


def test_a_new_project_works_as_the_readme_says(new_site, azure_emulator):
    site, env = new_site
    python = str(BIN / "python")

    check = run([python, "manage.py", "check"], cwd=site, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "System check identified no issues" in check.stdout

    deploy = run([python, "manage.py", "check", "--deploy", "--tag", "appauth_online"], cwd=site, env=env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr

    whoami = run([python, "manage.py", "appauth", "whoami"], cwd=site, env=env)
    assert whoami.returncode == 0, whoami.stdout + whoami.stderr
    assert "Signed in via Managed identity (App Service)" in whoami.stdout
    assert azure_emulator.directory.system_identity.client_id in whoami.stdout

    settings_seen = run(
        [python, "manage.py", "shell", "-c",
         "from django.conf import settings as s; print(s.SECRET_KEY, s.SENTRY_DSN, s.EMAIL_HOST_PASSWORD)"],
        cwd=site, env=env,
    )  # fmt: skip
    assert settings_seen.returncode == 0, settings_seen.stderr
    assert settings_seen.stdout.splitlines()[-1].split() == [
        SECRETS["django-secret-key"],
        SECRETS["sentry-dsn"],
        SECRETS["smtp-password"],
    ]

    port = free_port()
    with (
        serving(
            gunicorn_command("mysite.wsgi", port, workers=1), port, env=env, cwd=site, log=site / "gunicorn.log"
        ) as url,
        urllib.request.urlopen(f"{url}/banner/", timeout=30) as response,
    ):
        html = response.read().decode()
    assert '<p class="banner">Welcome &lt;to&gt; the new site</p>' in html


def test_a_missing_secret_stops_what_serves_and_check_names_it(new_site, azure_emulator):
    site, env = new_site
    settings = site / "mysite" / "settings.py"
    missing = f"@Microsoft.KeyVault(SecretUri={azure_emulator.vault.url}secrets/not-there)"
    settings.write_text(settings.read_text() + f'\nDATABASES["default"]["PASSWORD"] = "{missing}"\n')
    migrate = run([str(BIN / "python"), "manage.py", "migrate"], cwd=site, env=env)
    assert migrate.returncode != 0
    assert "ImproperlyConfigured" in migrate.stderr
    assert "DATABASES['default']['PASSWORD']" in migrate.stderr
    check = run([str(BIN / "python"), "manage.py", "check"], cwd=site, env=env)
    assert check.returncode == 1
    assert "Traceback" not in check.stderr
    assert "?: (appauth.E010) DATABASES['default']['PASSWORD']: its Key Vault secret could not be read" in check.stderr
    assert "SecretNotFoundError" in check.stderr
    for result in (migrate, check):
        assert all(value not in result.stdout + result.stderr for value in SECRETS.values())


def test_with_the_vault_down_the_commands_that_diagnose_it_run_and_servers_refuse(site_with_the_vault_down):
    site, env = site_with_the_vault_down
    python = str(BIN / "python")
    port = free_port()
    commands = {
        "help": [python, "manage.py", "help"],
        "check": [python, "manage.py", "check"],
        "deploy": [python, "manage.py", "check", "--deploy"],
        "appauth check": [python, "manage.py", "appauth", "check"],
        "migrate": [python, "manage.py", "migrate"],
        "runserver": [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        "gunicorn": [*gunicorn_command("mysite.wsgi", port, workers=1)],
        "uvicorn": [*uvicorn_command("mysite.asgi:application", free_port())],
    }
    with ThreadPoolExecutor(len(commands)) as pool:  # each waits out the vault client's retries
        results = dict(
            zip(commands, pool.map(lambda args: run(args, cwd=site, env=env), commands.values()), strict=True)
        )

    assert results["help"].returncode == 0, results["help"].stderr
    assert "[appauth_django]\n    appauth\n" in results["help"].stdout and "Traceback" not in results["help"].stderr

    unreadable = ["SECRET_KEY", "SENTRY_DSN", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD"]
    for name in ("check", "deploy"):
        result = results[name]
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        for setting in unreadable:
            assert f"(appauth.E010) {setting}: its Key Vault secret could not be read at start-up:" in result.stderr
        assert "KeyVaultUnavailableError" in result.stderr

    appauth_check = results["appauth check"]
    assert appauth_check.returncode == 1
    assert "Traceback" not in appauth_check.stdout + appauth_check.stderr
    for setting in unreadable:
        assert f"[fail] {setting}:" in appauth_check.stderr

    for name in ("migrate", "runserver", "gunicorn", "uvicorn"):
        result = results[name]
        assert result.returncode != 0, f"{name} started with the vault down:\n{result.stdout}{result.stderr}"
        assert "ImproperlyConfigured" in result.stdout + result.stderr, name
        assert "Could not read the Key Vault secret" in result.stdout + result.stderr, name


def test_ci_runs_check_deploy_offline_with_the_environment_switch(new_site, azure_emulator):
    site, env = new_site
    ci = {**env, "APPAUTH_RESOLVE_REFERENCES": "0"}
    deploy = run([str(BIN / "python"), "manage.py", "check", "--deploy"], cwd=site, env=ci)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "(appauth.W002)" in deploy.stderr and "APPAUTH_RESOLVE_REFERENCES" in deploy.stderr
    # Nothing signed in, nothing was read: neither the identity endpoint nor the vault saw a request.
    assert azure_emulator.counters["mi"] == azure_emulator.counters["keyvault"] == 0
