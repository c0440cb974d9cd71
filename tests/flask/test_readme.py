"""The Flask guide (docs/flask.md), run as written: its app factory saved as the file it names, configured by
its ``export`` lines (the vault URL pointed at the emulator), driven by its ``flask --app ...`` command
and served by its App Service ``gunicorn`` startup command, as fresh processes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flask.support import REPO, reference, subprocess_env


def _flask_section() -> str:
    return (REPO / "docs" / "flask.md").read_text()


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", section, re.S | re.M)


@pytest.fixture
def readme_app(tmp_path: Path) -> tuple[str, dict[str, str], list[list[str]], str]:
    """(module name, exported settings, `flask --app` commands, gunicorn app spec) from the guide."""
    section = _flask_section()
    source = _blocks(section, "python")[0]
    first_line = source.splitlines()[0]
    assert re.fullmatch(r"# \w+\.py", first_line), "the app factory block should start with '# <module>.py'"
    module = first_line[2:-3]
    (tmp_path / f"{module}.py").write_text(source)
    exports: dict[str, str] = {}
    commands: list[list[str]] = []
    for block in _blocks(section, "sh"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["export"]:
                name, _, value = words[1].partition("=")
                exports[name] = value
            elif words[:3] == ["flask", "--app", module] and "appauth" in words:
                commands.append(words)
    spec = re.search(r'gunicorn --bind=0\.0\.0\.0 --timeout 600 "([^"]+)"', section)
    assert exports and commands and spec
    return module, exports, commands, spec.group(1)


def test_the_readme_app_factory_works_as_shown(readme_app, tmp_path, azure_emulator, canary, gunicorn):
    module, exports, commands, spec = readme_app
    banner = "Maintenance on Sunday"
    azure_emulator.vault.set_secret("public-banner", banner)
    password = canary("db-password")
    canary("reporting-api-key")
    env = {
        **exports,
        "FLASK_APPAUTH_KEY_VAULT_URL": azure_emulator.vault.url,  # the one setting that differs here
        "FLASK_DATABASE_PASSWORD": reference(azure_emulator.vault.url, "db-password"),
    }

    for command in [*commands, ["flask", "--app", module, "appauth", "check"]]:
        completed = subprocess.run(
            [sys.executable, "-m", *command],
            cwd=tmp_path,
            env=subprocess_env(azure_emulator, env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        assert "[ok]" in completed.stdout
        assert password not in completed.stdout + completed.stderr
    assert "[ok]   DATABASE_PASSWORD resolves" in completed.stdout

    assert module in spec
    server = gunicorn(spec, env=env, cwd=tmp_path)
    page = server.get("/")
    assert page.status_code == 200, server.log.read_text()
    assert f"<p>{banner}</p>" in page.text
    assert f"Signed in as {azure_emulator.directory.system_identity.client_id}" in page.text
    assert server.get("/reports").json() == {"reporting": "configured"}
