"""The test site served for real: sync views under gunicorn (WSGI), async views under uvicorn (ASGI), both
signing in with the emulator's App Service managed identity, settings references resolved at startup."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from appauth_core.testing.emulator import AzureEmulator

from .servers import REPO, free_port, gunicorn_command, serving, site_env, uvicorn_command

SECRETS = {
    "django-secret-key": "server-canary-secret-key-0123456789abcdef",
    "db-password": "server-canary-db-password",
    "public-banner": "Banner <b>from</b> Key Vault",
}


@pytest.fixture(scope="module")
def server_env(azure_emulator_session: AzureEmulator) -> dict[str, str]:
    for name, value in SECRETS.items():
        azure_emulator_session.vault.set_secret(name, value)
    return site_env(
        azure_emulator_session.process_env(),
        DJANGO_SETTINGS_MODULE="tests.django.server_settings",
        APPAUTH_TEST_VAULT_URL=azure_emulator_session.vault.url,
    )


@pytest.fixture(scope="module")
def gunicorn_site(server_env, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with serving(
        gunicorn_command("tests.django.wsgi:application", port), port, env=server_env, cwd=REPO, log=log
    ) as url:
        yield url


@pytest.fixture(scope="module")
def uvicorn_site(server_env, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    with serving(
        uvicorn_command("tests.django.asgi:application", port), port, env=server_env, cwd=REPO, log=log
    ) as url:
        yield url


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def get_json(url: str) -> dict:
    status, body = get(url)
    assert status == 200, body
    return json.loads(body)


@pytest.mark.parametrize("site", ["gunicorn_site", "uvicorn_site"])
def test_settings_references_were_resolved_at_startup(request, site):
    base = request.getfixturevalue(site)
    assert get_json(f"{base}/settings-secrets") == {
        "secret_key": SECRETS["django-secret-key"],
        "db_password": SECRETS["db-password"],
    }


def test_sync_views_under_wsgi(gunicorn_site, azure_emulator):
    identity = azure_emulator.directory.system_identity
    assert get_json(f"{gunicorn_site}/token/sync")["appid"] == identity.client_id
    assert get_json(f"{gunicorn_site}/secret/sync?name=db-password")["value"] == SECRETS["db-password"]
    assert get_json(f"{gunicorn_site}/principal")["app_id"] == identity.client_id


def test_async_views_under_asgi(uvicorn_site, azure_emulator):
    identity = azure_emulator.directory.system_identity
    body = get_json(f"{uvicorn_site}/token/async?resource=https://storage.azure.com")
    assert (body["appid"], body["aud"]) == (identity.client_id, "https://storage.azure.com")
    assert get_json(f"{uvicorn_site}/secret/async?name=db-password")["value"] == SECRETS["db-password"]


def test_sync_views_under_asgi(uvicorn_site, azure_emulator):
    assert get_json(f"{uvicorn_site}/token/sync")["appid"] == azure_emulator.directory.system_identity.client_id


@pytest.mark.parametrize("site", ["gunicorn_site", "uvicorn_site"])
def test_template_tag(request, site):
    status, html = get(f"{request.getfixturevalue(site)}/banner")
    assert status == 200
    assert html.count("Banner &lt;b&gt;from&lt;/b&gt; Key Vault") == 2


@pytest.mark.parametrize("site", ["gunicorn_site", "uvicorn_site"])
def test_errors_show_no_secret(request, site):
    status, body = get(f"{request.getfixturevalue(site)}/boom")
    assert status == 500
    assert all(value not in body for value in SECRETS.values())


def test_an_unreadable_reference_stops_the_server(server_env, tmp_path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**server_env, "DJANGO_SETTINGS_MODULE": "tests.django.server_settings_broken"}
    with (
        pytest.raises(pytest.fail.Exception, match="exited"),
        serving(gunicorn_command("tests.django.wsgi:application", port, workers=1), port, env=env, cwd=REPO, log=log),
    ):
        pass
    output = log.read_text()
    assert "ImproperlyConfigured" in output
    assert "DATABASES['default']['PASSWORD']" in output
    assert SECRETS["django-secret-key"] not in output
