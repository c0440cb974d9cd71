"""`make demo` as a newcomer sees it: both demo sites served by real gunicorn processes against the
emulator and Azurite, loaded in headless Chromium (Debian's, driven by Playwright), rotate exercised.

Screenshots go to the test's tmp dir, or to docs/screenshots/ with APPAUTH_UPDATE_SCREENSHOTS=1 (the
README shows those)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO, _free_port

CHROMIUM = Path(os.environ.get("APPAUTH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium")
CACHE_SECONDS = 2
START_TIMEOUT = 90
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


@pytest.fixture(scope="module")
def demo(azurite_blob: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    ready = tmp_path_factory.mktemp("demo") / "ready"
    logs = tmp_path_factory.mktemp("demo-logs")
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
        assert "eyJ" not in page.content()  # never a token on the page
        blobs = page.locator("#blobs").inner_text()
        for name in ("readme.txt", "report-2026.csv", "logo.svg"):
            assert name in blobs
        page.screenshot(path=str(_screenshot_dir(tmp_path) / f"demo-{framework.lower()}.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("framework", ["Django", "Flask"])
def test_api_status_says_the_secret_was_read_without_showing_it(demo, framework):
    """A status endpoint has no sign-in: it may say that the secret could be read, never what it holds."""
    page = requests.get(demo[framework], timeout=30).text
    greeting = page.split('class="secret">', 1)[1].split("<", 1)[0].strip()
    assert greeting.startswith("Hello from Key Vault!")
    reply = requests.get(demo[framework] + "api/status", timeout=30)
    assert reply.status_code == 200
    assert reply.json()["ok"] is True
    assert reply.json()["secret_read"] is True
    assert greeting not in reply.text
    assert "eyJ" not in reply.text


@pytest.mark.parametrize("framework", ["Django", "Flask"])
def test_rotate_is_seen_after_the_cache_ttl_without_a_restart(demo, browser, framework):
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(demo[framework])
        before = page.locator("#secret .secret").inner_text()
        page.click("#rotate")
        page.wait_for_selector("#rotated")
        deadline = time.monotonic() + CACHE_SECONDS * 10 + 10
        after = before
        while after == before or "Rotated at" not in after:
            assert time.monotonic() < deadline, f"the rotated secret never showed up on the {framework} page"
            time.sleep(0.5)
            page.goto(demo[framework])
            after = page.locator("#secret .secret").inner_text()
        assert after.startswith("Hello from Key Vault! Rotated at")
    finally:
        page.close()
