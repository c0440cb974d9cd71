"""`make demo` as a newcomer sees it: both demo sites served by real gunicorn processes against the
emulator and Azurite, loaded in headless Chromium (Debian's, driven by Playwright), rotate exercised, and
each site calling the other's API with its managed identity (the callee validates the token and answers
with who called; the caller's page shows that answer, a refusal, or that the other site did not answer).

Screenshots go to the test's tmp dir, or to docs/screenshots/ with APPAUTH_UPDATE_SCREENSHOTS=1 (the
overview page, docs/index.md, shows those)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from appauth_core import RequestAppAuth
from appauth_core.web import AppAuthConfig, AppAuthServices
from demo_sites.common import ADMIN_ROLE, READ_ROLE, peer_calls
from demo_sites.run import DEMO_APIS
from tests.conftest import REPO, _free_port

CHROMIUM = Path(os.environ.get("APPAUTH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
# The sites' secret cache time: an hour, so a rotation that shows up at once came through the rotation events
# (Event Grid to the webhooks, Redis pub/sub to every worker), not through the cache running out.
CACHE_SECONDS = 3600
ROTATION_SECONDS = 2.0  # how soon a rotation must be on both sites
START_TIMEOUT = 90
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
# A JWT: base64url header starting {"  (eyJ), then payload and signature after dots. A bare "eyJ" also occurs
# by chance inside a CSRF token, which is not a token leak.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


OTHER = {"Django": "Flask", "Flask": "Django"}


@pytest.fixture(scope="module")
def demo_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-logs")


@pytest.fixture(scope="module")
def demo(azurite_blob: Path, tmp_path_factory: pytest.TempPathFactory, demo_logs: Path) -> Iterator[dict[str, str]]:
    ready = tmp_path_factory.mktemp("demo") / "ready"
    logs = demo_logs
    ports = {"Django": _free_port(), "Flask": _free_port()}
    command = [
        sys.executable, str(REPO / "demo_sites" / "run.py"), "--django-port", str(ports["Django"]),
        "--flask-port", str(ports["Flask"]), "--cache-seconds", str(CACHE_SECONDS), "--ready-file", str(ready),
        "--logs", str(logs),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.exists():
        if process.poll() is not None:
            pytest.fail(f"make demo's runner exited with {process.returncode}:\n{process.stdout.read()}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the demo did not start within {START_TIMEOUT} s; logs in {logs}")
        time.sleep(0.2)
    try:
        yield {name: f"http://127.0.0.1:{port}/" for name, port in ports.items()}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        assert process.returncode == 0, output
        assert "stopping the demo" in output


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}; `make test` installs the Debian package"
        if os.environ.get("APPAUTH_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def _screenshot_dir(tmp_path: Path) -> Path:
    if os.environ.get("APPAUTH_UPDATE_SCREENSHOTS") == "1":
        return REPO / "docs" / "screenshots"
    return tmp_path


@pytest.mark.parametrize("framework", ["Django", "Flask"])
def test_home_page_shows_secret_identity_tokens_and_blobs(demo, browser, framework, tmp_path):
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(demo[framework])
        assert page.title() == f"appauth demo · {framework}"
        secret = page.locator("#secret")
        assert "Key Vault" in secret.inner_text()
        assert "Hello from Key Vault!" in secret.locator(".secret").inner_text()
        assert page.locator("#banner").inner_text() == "appauth demo: tokens and secrets with no credentials in code"
        assert page.locator("#method").inner_text() == "Managed identity (App Service)"
        principal = page.locator("#principal").inner_text()
        assert "App" in principal and "app id" in principal and "tenant" in principal
        tokens = page.locator("#tokens").inner_text()
        assert tokens.count("valid") == 2
        assert "https://storage.azure.com" in tokens
        assert not JWT.search(page.content())  # never a token on the page
        blobs = page.locator("#blobs").inner_text()
        for name in ("readme.txt", "report-2026.csv", "logo.svg"):
            assert name in blobs
        page.screenshot(path=str(_screenshot_dir(tmp_path) / f"demo-{framework.lower()}.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("framework", ["Django", "Flask"])
def test_api_status_says_the_secret_was_read_without_showing_it(demo, framework):
    """A status endpoint has no sign-in: it may say that the secret could be read, never what it holds."""
    greeting = _fresh_greeting(demo[framework])
    assert greeting.startswith("Hello from Key Vault!")
    reply = requests.get(demo[framework] + "api/status", timeout=30)
    assert reply.status_code == 200
    assert reply.json()["ok"] is True
    assert reply.json()["secret_read"] is True
    assert greeting not in reply.text
    assert not JWT.search(reply.text)


def _greeting(page: object, url: str) -> str:
    page.goto(url)  # type: ignore[attr-defined]
    return page.locator("#secret .secret").inner_text()  # type: ignore[attr-defined,no-any-return]


def _fresh_greeting(url: str) -> str:
    """The greeting a new connection gets (so either of the site's gunicorn workers may answer it)."""
    page = requests.get(url, timeout=30, headers={"Connection": "close"}).text
    return page.split('class="secret">', 1)[1].split("<", 1)[0].strip()


@pytest.mark.parametrize("framework", ["Django", "Flask"])
def test_rotate_shows_the_new_version_on_both_sites_at_once(demo, browser, framework):
    """ "Rotate the secret" on one site writes a new version; the vault's event reaches both sites' webhooks
    and every gunicorn worker (Redis pub/sub), so both pages show it within seconds although each site caches
    the secret for an hour."""
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        before = {_greeting(page, url) for url in demo.values()}
        page.goto(demo[framework])
        assert f"caches the secret for {CACHE_SECONDS} s" in page.locator("#rotation").inner_text()
        page.click("#rotate")
        page.wait_for_selector("#rotated")
        rotated = time.monotonic()
        assert "both sites show it at once" in page.locator("#rotated").inner_text()
        value = _greeting(page, demo[framework])
        while value in before:  # the event may reach the worker a moment after the redirect
            assert time.monotonic() - rotated < ROTATION_SECONDS, f"the {framework} page still shows {value!r}"
            time.sleep(0.1)
            value = _greeting(page, demo[framework])
        assert value.startswith("Hello from Key Vault! Rotated at")
        for name, url in demo.items():
            while (shown := _greeting(page, url)) != value:
                assert time.monotonic() - rotated < ROTATION_SECONDS, f"the {name} page still shows {shown!r}"
                time.sleep(0.1)
            # every worker of the site, not only the one that received the event (new connections each)
            assert {_fresh_greeting(url) for _ in range(8)} == {value}, f"a {name} worker serves its old copy"
    finally:
        page.close()


ENGINES = {"Django": "PostgreSQL", "Flask": "MariaDB"}
DATABASE_USER = "appauth-emulator-host"  # the App Service site's name, as Azure names its managed identity
WORKER_ROW = re.compile(r'<tr class="visit"><td>[^<]+</td><td>(\d+)</td></tr>')


def _database_section(html: str) -> str:
    return html.split('<section id="database">', 1)[1].split("</section>", 1)[0]


@pytest.mark.parametrize("framework", ["Django", "Flask"])
def test_home_page_writes_and_reads_a_row_as_the_managed_identity(demo, browser, framework, tmp_path):
    """Each view writes a row and reads the newest ones (Django's ORM on PostgreSQL, Flask-SQLAlchemy on
    MariaDB) over TLS, signed in as the managed identity with its token, the table made by make demo's migrate
    / create-tables; both gunicorn workers of the site sign in (they share one identity), none fails."""
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(demo[framework])
        section = page.locator("#database")
        assert f"in {ENGINES[framework]}, signed in with the managed identity" in section.inner_text()
        assert page.locator("#database-user").inner_text() == DATABASE_USER, section.inner_text()
        assert page.locator("#database-tls").inner_text().startswith("TLSv1.")
        first = int(page.locator("#database-visits").inner_text())
        page.reload()
        assert int(page.locator("#database-visits").inner_text()) > first  # the row this view wrote
        assert not JWT.search(page.content())  # the token that signed in is not on the page
        page.screenshot(path=str(tmp_path / f"demo-{framework.lower()}-database.png"), full_page=True)
    finally:
        page.close()
    workers: set[int] = set()
    visits = 0
    for _ in range(40):  # new connections, so that either worker may answer; stop once both have
        html = requests.get(demo[framework], timeout=30, headers={"Connection": "close"}).text
        database = _database_section(html)
        assert 'id="database-error"' not in database, database
        shown = int(database.split('id="database-visits">', 1)[1].split("<", 1)[0])
        assert shown > visits  # every view wrote its row, whichever worker served it
        visits = shown
        workers |= {int(pid) for pid in WORKER_ROW.findall(database)}
        if len(workers) >= 2:
            break
    assert len(workers) >= 2, f"only worker {workers} wrote rows"


def test_the_demo_starts_without_a_database_server_and_says_why(monkeypatch, tmp_path, azure_emulator):
    """PostgreSQL not installed, MariaDB failing to initialise (a data-directory tool that exits 1): the demo
    still runs, with each site's page saying why it has no database instead of failing."""
    import demo_sites.run as runner
    from demo_sites.common import database_unavailable

    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "mariadb-install-db").write_text("#!/bin/sh\necho 'Installation of system tables failed!' >&2\nexit 1\n")
    (broken / "mariadb-install-db").chmod(0o755)
    monkeypatch.setattr(runner, "postgresql_bin", lambda: None)
    monkeypatch.setenv("PATH", f"{broken}{os.pathsep}{os.environ['PATH']}")
    with runner._databases(azure_emulator) as env:
        assert "DEMO_POSTGRES_PORT" not in env and "DEMO_MARIADB_PORT" not in env
        assert env["DEMO_POSTGRES_UNAVAILABLE"] == "postgresql is not installed (apt-get install postgresql)"
        assert env["DEMO_MARIADB_UNAVAILABLE"] == (
            "mariadb-server did not start: Installation of system tables failed!"
        )
        monkeypatch.setenv("DEMO_MARIADB_UNAVAILABLE", env["DEMO_MARIADB_UNAVAILABLE"])
        status = database_unavailable("MariaDB", "DEMO_MARIADB_UNAVAILABLE")
        assert status.unavailable == env["DEMO_MARIADB_UNAVAILABLE"]
    assert not azure_emulator.managed_identity.reuse_tokens  # nothing to share a token for


def _principal(page: object, label: str) -> str:
    """A value of the page's "Who the app signed in as" table."""
    return page.locator("#principal tr", has_text=label).locator("td").inner_text()  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("framework", ["Django", "Flask"])
def test_home_page_shows_what_the_other_sites_api_answered(demo, browser, framework):
    """The page called the other site's API with its managed identity: the callee validated the token and
    answered with the caller (this site's identity), the role it holds and the token version that API
    accepts (Flask's v1, Django's v2); the endpoint needing a role it lacks refused with 403."""
    other = OTHER[framework]
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(demo[framework])
        peer = page.locator("#peer")
        calls = peer.locator("tr.call")
        assert calls.count() == 2, peer.inner_text()
        answered = calls.nth(0)
        assert f"GET {demo[other]}api/caller" in answered.inner_text()
        assert f"200 from the {other} site" in answered.inner_text(), peer.inner_text()
        assert answered.locator(".client-id").inner_text() == _principal(page, "app id")
        assert answered.locator(".tenant").inner_text() == _principal(page, "tenant")
        assert answered.locator(".roles").inner_text() == READ_ROLE
        version = DEMO_APIS[other.upper()][1]
        assert answered.locator(".version").inner_text() == f"{version}.0"
        refused = calls.nth(1)
        assert f"GET {demo[other]}api/admin" in refused.inner_text()
        assert refused.locator(".refusal").inner_text() == "403 insufficient_scope"
        assert f"does not hold {ADMIN_ROLE}" in refused.inner_text()
        assert not JWT.search(page.content())  # the token the call carried is not on the page
    finally:
        page.close()


@pytest.mark.parametrize("framework", ["Django", "Flask"])
def test_api_refuses_a_request_without_a_valid_token(demo, framework):
    """The API the other site calls is closed to everyone else, as RFC 6750 says: no token is 401 with a
    bare challenge, a token that is not one is 401 invalid_token; neither says more than that."""
    url = demo[framework] + "api/caller"
    bare = requests.get(url, timeout=30)
    assert bare.status_code == 401
    assert bare.headers["WWW-Authenticate"] == "Bearer"
    forged = requests.get(url, headers={"Authorization": "Bearer not.a.token"}, timeout=30)
    assert forged.status_code == 401
    assert forged.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert forged.json()["error"] == "invalid_token"
    assert "caller" not in forged.json()


def _gunicorn_master(log: Path) -> int:
    """The pid gunicorn's master logs at start ("Listening at: http://127.0.0.1:5000 (4242)")."""
    found = re.search(r"Listening at: \S+ \((\d+)\)", log.read_text())
    assert found, f"no 'Listening at' line in {log}"
    return int(found.group(1))


def test_home_page_says_so_when_the_other_site_does_not_answer(demo, demo_logs):
    """The Flask site stopped (its gunicorn master and workers, SIGSTOP): the Django page still renders
    (200, not a 500) and says that the call got no answer; once Flask runs again, the answer is back."""
    group = os.getpgid(_gunicorn_master(demo_logs / "flask.log"))
    os.killpg(group, signal.SIGSTOP)
    try:
        reply = requests.get(demo["Django"], timeout=60)
    finally:
        os.killpg(group, signal.SIGCONT)
    assert reply.status_code == 200
    peer = reply.text.split('<section id="peer">', 1)[1].split("</section>", 1)[0]
    assert 'class="fail error">no answer: ' in peer, peer
    assert "did not answer in time" in peer
    assert "api/admin" not in peer  # a site that did not answer is not waited for twice
    again = requests.get(demo["Django"], timeout=60).text
    assert "200</span> from the Flask site" in again


def test_a_call_to_a_site_that_is_down_is_reported_not_raised(azure_emulator_env):
    """Nothing listens where the other site should be (connection refused): the page's call, a real
    ``DownstreamApi`` with a real token from the emulator, says so in one line and is not made twice."""
    down = f"http://127.0.0.1:{_free_port()}/"
    config = AppAuthConfig.from_mapping(
        {"DOWNSTREAM_APIS": {"flask-api": {"BASE_URL": down, "RESOURCE": "https://storage.azure.com/"}}}
    )
    services = AppAuthServices(config)
    try:
        [peer] = peer_calls(RequestAppAuth(services), services)
    finally:
        services.close()
    assert [(call.url, call.status) for call in peer.calls] == [(down + "api/caller", 0)]
    assert peer.calls[0].error == "ConnectionError: [Errno 111] Connection refused"
