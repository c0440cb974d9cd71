"""Issue 15, item 8 for Flask: ``g.appauth`` is ``Any`` to mypy (``g`` holds anything), so
``current_appauth`` is it typed as ``RequestAppAuth``, as Flask types ``current_app``: a typo such as
``current_appauth.secrt(...)`` fails ``mypy --strict``. And ``secret(name, default=...)`` in Flask."""

from __future__ import annotations

import json

import pytest
from flask import g

from appauth_core import RequestAppAuth, SecretAccessDeniedError
from appauth_flask import AppAuth, current_appauth
from tests.typing_support import mypy_strict

FORBIDDEN = json.dumps({"error": {"code": "Forbidden", "message": "Caller is not authorized"}}).encode()

APP = """\
from __future__ import annotations

from flask import Flask, g

from appauth_flask import AppAuth, current_appauth

app = Flask(__name__)
appauth = AppAuth(app)


@app.get("/")
def index() -> str:
    banner: str = current_appauth.secret("public-banner")
    flag: str | None = current_appauth.secret("new-feature-flag", default=None)
    fallback: str | None = appauth.secret("new-feature-flag", default=None)
    untyped: str = g.appauth.secret("public-banner")
    return banner + (flag or "") + (fallback or "") + untyped
"""


def test_the_typed_proxy_passes_mypy_strict(tmp_path):
    result = mypy_strict(APP, tmp_path, "app")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_typo_through_current_appauth_fails_mypy_strict_where_g_appauth_does_not(tmp_path):
    typos = APP.replace('current_appauth.secret("public-banner")', 'current_appauth.secrt("public-banner")')
    typos = typos.replace('g.appauth.secret("public-banner")', 'g.appauth.secrt("public-banner")')
    result = mypy_strict(typos, tmp_path, "app")
    assert result.returncode == 1
    flagged = {int(line.split(":")[1]) for line in result.stdout.splitlines() if '"secrt"' in line}
    lines = typos.splitlines()
    assert flagged == {number for number, text in enumerate(lines, 1) if "current_appauth.secrt(" in text}
    assert not any("g.appauth.secrt(" in lines[number - 1] for number in flagged)  # why the proxy exists


def test_current_appauth_is_g_appauth(make_app):
    app = make_app()
    with app.test_request_context("/"):
        app.preprocess_request()
        assert current_appauth._get_current_object() is g.appauth  # type: ignore[attr-defined]
        assert isinstance(g.appauth, RequestAppAuth)


def test_secret_defaults_only_for_a_secret_that_does_not_exist(make_app, canary, azure_emulator):
    value = canary("flask-present")
    appauth = AppAuth()
    app = make_app(appauth)
    with app.test_request_context("/"):
        app.preprocess_request()
        assert current_appauth.secret("flask-not-there", default="off") == "off"
        assert current_appauth.secret("flask-present", default="off") == value
        assert appauth.secret("flask-not-there", default=None) is None
        azure_emulator.faults.inject("keyvault.local.get_secret", status=403, body=FORBIDDEN, times=10)
        with pytest.raises(SecretAccessDeniedError):
            appauth.secret("flask-other", default="off")


@pytest.mark.asyncio
async def test_secret_async_takes_a_default(make_app):
    appauth = AppAuth()
    app = make_app(appauth)
    with app.app_context():
        assert await appauth.secret_async("flask-not-there-async", default="off") == "off"


@pytest.mark.parametrize("action", [["whoami"], ["token", "--resource", "https://storage.azure.com"], ["check"]])
def test_flask_appauth_json(make_app, action):
    result = make_app().test_cli_runner().invoke(args=["appauth", *action, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["lines"][0]["status"] == "ok" and "raw" not in report
