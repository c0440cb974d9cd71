"""The adapter in a real ``gunicorn`` (two worker processes) configured only through the environment, as
on App Service: references resolved at boot, g.appauth in sync and async views, the template global, the
shared Redis cache across processes, and a boot that fails on a bad reference without leaking a value."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid

from cryptography.fernet import Fernet
from flask import Flask
from flask_caching import Cache

from tests.flask.support import REPO, reference, subprocess_env

APP = "tests.flask.gunicorn_app:create_app()"
KEY = Fernet.generate_key().decode()


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_pages_served_by_gunicorn(gunicorn, azure_emulator, canary):
    password, banner, other = canary("flask-gu-password"), canary("flask-gu-banner"), canary("flask-gu-other")
    server = gunicorn(
        APP,
        env={
            "FLASK_APPAUTH_KEY_VAULT_URL": azure_emulator.vault.url,
            "FLASK_APPAUTH_TEMPLATE_SECRETS": json.dumps(["flask-gu-banner"]),
            "FLASK_DB_PASSWORD": reference(azure_emulator.vault.url, "flask-gu-password"),
        },
    )
    assert server.get("/config/DB_PASSWORD").json() == {"sha256": _sha(password)}
    assert server.get("/whoami").json() == {"app_id": azure_emulator.directory.system_identity.client_id}
    pages = [server.get("/secret/flask-gu-other"), server.get("/async/secret/flask-gu-other")]
    assert [page.json() for page in pages] == [{"sha256": _sha(other)}] * 2
    assert server.get("/banner/flask-gu-banner").text == f"<p>{banner}</p>"
    refused = server.get("/banner/flask-gu-password")
    assert refused.status_code == 200
    assert refused.text == "<p></p>"
    log = server.log.read_text()
    for value in (password, other):
        assert value not in log


def test_async_views_in_every_worker(gunicorn, azure_emulator, canary):
    value = canary("flask-gu-async")
    server = gunicorn(APP, env={"FLASK_APPAUTH_KEY_VAULT_URL": azure_emulator.vault.url}, workers=2)
    answers = [server.get("/async/secret/flask-gu-async") for _ in range(8)]
    assert {response.status_code for response in answers} == {200}
    assert {response.json()["sha256"] for response in answers} == {_sha(value)}


def test_workers_share_secrets_through_redis(gunicorn, make_app, redis_url, azure_emulator, canary):
    value = canary("flask-gu-shared")
    prefix = f"appauth-gunicorn-{uuid.uuid4().hex[:8]}:"
    cache_settings = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": redis_url, "CACHE_KEY_PREFIX": prefix}
    cache = Cache()

    def setup(app: Flask) -> None:
        app.config.update(cache_settings)
        cache.init_app(app)

    # This process plays the worker that read the secret first.
    make_app(
        setup=setup,
        APPAUTH_CACHE=cache,
        APPAUTH_CACHE_ENCRYPTION_KEY=KEY,
        WARM=reference(azure_emulator.vault.url, "flask-gu-shared"),
    )
    azure_emulator.counters.reset()
    server = gunicorn(
        APP,
        env={
            "FLASK_APPAUTH_KEY_VAULT_URL": azure_emulator.vault.url,
            "FLASK_APPAUTH_CACHE_ENCRYPTION_KEY": KEY,
            "FLASK_DB_PASSWORD": reference(azure_emulator.vault.url, "flask-gu-shared"),
            **{f"FLASK_{name}": setting for name, setting in cache_settings.items()},
        },
    )
    for _ in range(4):
        assert server.get("/secret/flask-gu-shared").json() == {"sha256": _sha(value)}
    assert server.get("/config/DB_PASSWORD").json() == {"sha256": _sha(value)}
    assert azure_emulator.counters["keyvault.local.get_secret"] == 0


def test_a_reference_that_fails_stops_the_boot_naming_the_key(azure_emulator, canary):
    present = canary("flask-gu-present")
    env = {
        "FLASK_APPAUTH_KEY_VAULT_URL": azure_emulator.vault.url,
        "FLASK_GOOD": reference(azure_emulator.vault.url, "flask-gu-present"),
        "FLASK_BROKEN": reference(azure_emulator.vault.url, "flask-gu-missing"),
    }
    # `gunicorn --check-config` loads the app in one process and exits, so the failure is synchronous.
    completed = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", APP],
        cwd=REPO,
        env=subprocess_env(azure_emulator, env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "ReferenceResolutionError: BROKEN: " in output
    assert "flask-gu-missing" in output
    assert present not in output
