"""Protected Django views served for real (issue 17): sync views under gunicorn (WSGI), async views under
uvicorn (ASGI), called with the managed identity's real token; and the Django site calling a Flask API (served
by gunicorn, validating with appauth) through ``request.appauth.api(...)``, in-process and from gunicorn."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import requests

from appauth_core import AzureServiceTokenProvider
from appauth_core.testing.emulator import AzureEmulator
from tests.api_support import api_settings, register_orders_api
from tests.core.outbound_support import ApiServer

from .servers import REPO, free_port, gunicorn_command, serving, site_env, uvicorn_command


@pytest.fixture(scope="module")
def audiences(azure_emulator_session: AzureEmulator) -> dict[str, str]:
    """The App ID URIs of the two APIs: the Django site's and the Flask site's."""
    return {
        site: register_orders_api(azure_emulator_session, f"{site}-served").app_id_uri for site in ("django", "flask")
    }


def served(command: Callable[[str, int], list[str]], app: str, env: dict[str, str], tmp_path_factory) -> Iterator[str]:
    """``command(app, port)`` serving on a free port with ``env``, stopped after the module."""
    port = free_port()
    log = tmp_path_factory.mktemp("api-server") / "server.log"
    with serving(command(app, port), port, env=env, cwd=REPO, log=log) as url:
        yield url


@pytest.fixture(scope="module")
def flask_api(azure_emulator_session: AzureEmulator, audiences, tmp_path_factory) -> Iterator[str]:
    """``tests/flask/api_app.py`` under gunicorn, checking tokens for the Flask API's audience."""
    settings = api_settings(azure_emulator_session, audiences["flask"])
    env = site_env(
        azure_emulator_session.process_env(), **{f"FLASK_APPAUTH_API_{key}": value for key, value in settings.items()}
    )
    yield from served(gunicorn_command, "tests.flask.api_app:create_app()", env, tmp_path_factory)


@pytest.fixture(scope="module")
def django_env(azure_emulator_session: AzureEmulator, audiences, flask_api: str) -> dict[str, str]:
    downstream = {"orders": {"BASE_URL": flask_api + "/", "RESOURCE": audiences["flask"], "TIMEOUT": 10}}
    return site_env(
        azure_emulator_session.process_env(),
        DJANGO_SETTINGS_MODULE="tests.django.api_server_settings",
        APPAUTH_TEST_API=json.dumps(api_settings(azure_emulator_session, audiences["django"])),
        APPAUTH_TEST_DOWNSTREAM_APIS=json.dumps(downstream),
    )


@pytest.fixture(scope="module")
def gunicorn_site(django_env, tmp_path_factory) -> Iterator[str]:
    yield from served(gunicorn_command, "tests.django.wsgi:application", django_env, tmp_path_factory)


@pytest.fixture(scope="module")
def uvicorn_site(django_env, tmp_path_factory) -> Iterator[str]:
    yield from served(uvicorn_command, "tests.django.asgi:application", django_env, tmp_path_factory)


def get(url: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=30)


@pytest.mark.parametrize(("site", "path"), [("gunicorn_site", "/api/whoami"), ("uvicorn_site", "/api/async/whoami"),
                                            ("uvicorn_site", "/api/cbv/async/orders")])  # fmt: skip
def test_served_views_check_tokens(request, site, path, audiences, azure_emulator, azure_emulator_env):
    base = request.getfixturevalue(site)
    token = AzureServiceTokenProvider().get_access_token(audiences["django"])
    refused = get(base + path)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    forged = get(base + path, token[:-8] + "AAAAAAAA")
    assert forged.status_code == 401
    assert forged.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    answer = get(base + path, token)
    if path.endswith("orders"):  # the managed identity holds no app role: 403, after a valid token
        assert answer.status_code == 403
        assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
    else:
        assert answer.status_code == 200, answer.text
        assert answer.json()["client_id"] == azure_emulator.directory.system_identity.client_id


def test_the_flask_api_checks_tokens(flask_api, audiences, azure_emulator, azure_emulator_env):
    assert get(flask_api + "/whoami").status_code == 401
    token = AzureServiceTokenProvider().get_access_token(audiences["flask"])
    for path in ("/whoami", "/async/whoami"):
        answer = get(flask_api + path, token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["client_id"] == azure_emulator.directory.system_identity.client_id
    wrong_audience = AzureServiceTokenProvider().get_access_token(audiences["django"])
    assert get(flask_api + "/whoami", wrong_audience).status_code == 401


def test_django_calls_the_flask_api_with_its_token(gunicorn_site, azure_emulator):
    """The Django site (gunicorn) calls the Flask API (gunicorn) as its managed identity: the Flask side
    validated the token and answers with the caller it saw."""
    answer = get(gunicorn_site + "/api/downstream?path=whoami")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == 200
    assert answer.json()["body"]["client_id"] == azure_emulator.directory.system_identity.client_id
    assert answer.json()["body"]["tenant_id"] == azure_emulator.tenant_id
    refused = get(gunicorn_site + "/api/downstream?path=orders").json()  # a role the identity lacks
    assert refused["status"] == 403
    assert refused["body"]["error"] == "insufficient_scope"


def test_an_in_process_view_calls_the_flask_api(
    client, settings, flask_api, audiences, azure_emulator, azure_emulator_env
):
    settings.APPAUTH = {"DOWNSTREAM_APIS": {"orders": {"BASE_URL": flask_api + "/", "RESOURCE": audiences["flask"]}}}
    answer = client.get("/api/downstream", {"path": "whoami"})
    assert answer.status_code == 200
    assert answer.json()["body"]["client_id"] == azure_emulator.directory.system_identity.client_id
    unprotected = client.get("/api/downstream", {"path": "headers"}).json()["body"]
    assert unprotected == {"authorization": "Bearer"}  # the session sends the token to its own base URL


def test_the_token_goes_to_the_api_only(client, settings, azure_emulator, azure_emulator_env):
    """A URL outside the API's base URL (an absolute one, as user input could make) is sent without it."""
    api = register_orders_api(azure_emulator, "django-hosts")
    with ApiServer() as orders, ApiServer() as elsewhere:
        settings.APPAUTH = {"DOWNSTREAM_APIS": {"orders": {"BASE_URL": orders.url, "RESOURCE": api.app_id_uri}}}
        assert client.get("/api/downstream", {"path": "items"}).json()["status"] == 200
        assert client.get("/api/downstream", {"path": elsewhere.url + "steal"}).json()["status"] == 200
    assert [(seen.path, seen.token is not None) for seen in orders.seen] == [("/items", True)]
    assert [(seen.path, seen.authorization) for seen in elsewhere.seen] == [("/steal", None)]
