"""The wheel as users get it: built from the sdist (as ``make dist`` does), installed with its Django and
Flask extras into a clean venv (no system site-packages, so not the checkout's editable install), and run
from a folder outside the checkout: a tiny Django project and a tiny Flask app, plus a check that every
package has ``py.typed`` and that the template tags and the management command import from the wheel.

pip installs the dependencies from the package index it is configured with (its cache makes a rerun fast).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["appauth_core", "appauth_django", "appauth_flask"]
MODULES = ["appauth_django.templatetags.appauth", "appauth_django.management.commands.appauth"]
BUILD_TIMEOUT = 300  # hang guards: an isolated build env, then pip resolving both extras
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 120
NOT_ALLOWED = "not-in-template-secrets"

# Run inside the venv with -I (no PYTHONPATH, no current folder): the problems, as a JSON list. With a
# folder argument, appauth is imported from that folder instead (an unpacked wheel).
CONTENTS_CHECK = """
import importlib, importlib.resources, json, sys, sysconfig
from pathlib import Path
root = Path(sys.argv[1] if len(sys.argv) > 1 else sysconfig.get_paths()["purelib"]).resolve()
sys.path.insert(0, str(root))
problems = []
for name in PACKAGES:
    package = importlib.import_module(name)
    if not Path(package.__file__).resolve().is_relative_to(root):
        problems.append(f"{name} was imported from {package.__file__}, not from {root}")
    if not importlib.resources.files(name).joinpath("py.typed").is_file():
        problems.append(f"{name}/py.typed is missing")
for name in MODULES:
    try:
        importlib.import_module(name)
    except ImportError as error:
        problems.append(f"{name} does not import: {error}")
print(json.dumps(problems))
"""


def _run(args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _clean_env(venv: Path | None = None) -> dict[str, str]:
    """The environment without anything that would make the checkout or a test setting visible."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE", "FLASK_APP"}
    env = {key: value for key, value in os.environ.items() if key not in drop and not key.startswith("APPAUTH_")}
    env.pop("AzureServicesAuthConnectionString", None)
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _source_copy(destination: Path, without: tuple[str, ...] = ()) -> Path:
    """The files a clone of the checkout has, with the work in progress (tracked and untracked, not
    ignored), minus ``without``: builds never see a stale build/ or egg-info, nor a concurrent edit."""
    listed = _ok(_run(["git", "ls-files", "-z", "-co", "--exclude-standard"], REPO, dict(os.environ), RUN_TIMEOUT))
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() and name not in without:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def _build(source: Path, outdir: Path, *options: str) -> Path:
    _ok(
        _run([sys.executable, "-m", "build", *options, "--outdir", outdir, source], source, _clean_env(), BUILD_TIMEOUT)
    )
    (wheel,) = outdir.glob("appauth-*-py3-none-any.whl")
    return wheel


def _problems(python: Path, cwd: Path, *root: Path) -> list[str]:
    script = f"PACKAGES = {PACKAGES!r}\nMODULES = {MODULES!r}\n{CONTENTS_CHECK}"
    problems: list[str] = json.loads(_ok(_run([python, "-I", "-c", script, *root], cwd, _clean_env(), RUN_TIMEOUT)))
    return problems


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist, then the wheel from the sdist, from a copy of the checkout."""
    source = _source_copy(tmp_path_factory.mktemp("source"))
    return _build(source, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with only the wheel and its Django and Flask extras."""
    venv = tmp_path_factory.mktemp("venv")
    _ok(_run([sys.executable, "-m", "venv", venv], venv, _clean_env(), RUN_TIMEOUT))
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"{wheel}[django,flask]"]
    _ok(_run(pip, venv, _clean_env(venv), INSTALL_TIMEOUT))
    return venv


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working folder outside the checkout, so the checkout cannot be imported from the current folder."""
    assert not tmp_path.resolve().is_relative_to(REPO)
    return tmp_path


def test_every_package_file_is_installed(venv: Path, outside: Path) -> None:
    assert _problems(venv / "bin" / "python", outside) == []


def test_the_check_catches_a_missing_package_file(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A wheel built without ``appauth_django/py.typed`` and the management command fails the check above."""
    missing = ("appauth_django/py.typed", "appauth_django/management/commands/appauth.py")
    source = _source_copy(tmp_path_factory.mktemp("broken-source"), without=missing)
    broken = _build(source, tmp_path_factory.mktemp("broken-dist"), "--wheel")
    unpacked = tmp_path_factory.mktemp("broken-wheel")
    with zipfile.ZipFile(broken) as archive:
        archive.extractall(unpacked)
    problems = _problems(venv / "bin" / "python", unpacked, unpacked)
    assert problems == [
        "appauth_django/py.typed is missing",
        "appauth_django.management.commands.appauth does not import: "
        "No module named 'appauth_django.management.commands.appauth'",
    ]


DJANGO_FILES = {
    "manage.py": """
        import os
        import sys

        from django.core.management import execute_from_command_line

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smoke_settings")
        execute_from_command_line(sys.argv)
    """,
    "smoke_settings.py": """
        from pathlib import Path

        SECRET_KEY = "wheel-smoke-test-not-a-secret"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        USE_TZ = True
        INSTALLED_APPS = ["appauth_django"]
        MIDDLEWARE = ["appauth_django.middleware.AppAuthMiddleware"]
        TEMPLATES = [{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [Path(__file__).resolve().parent / "templates"],
        }]
        DATABASES = {}
        APPAUTH = {"CONNECTION_STRING": "RunAs=App"}
    """,
    "templates/page.html": f"""
        {{% load appauth %}}[{{% keyvault_secret "{NOT_ALLOWED}" %}}]
    """,
    # A name outside TEMPLATE_SECRETS renders nothing in production and raises in DEBUG: the tag really ran.
    "render.py": """
        import os

        import django

        os.environ["DJANGO_SETTINGS_MODULE"] = "smoke_settings"
        django.setup()
        from django.conf import settings
        from django.template.loader import render_to_string

        print(render_to_string("page.html").strip())
        settings.DEBUG = True
        try:
            render_to_string("page.html")
        except Exception as error:
            print(type(error).__name__)
    """,
}

FLASK_FILES = {
    "smoke_app.py": """
        from flask import Flask

        from appauth_flask import AppAuth

        appauth = AppAuth()


        def create_app():
            app = Flask(__name__)
            app.config["APPAUTH_CONNECTION_STRING"] = "RunAs=App"
            appauth.init_app(app)
            return app
    """,
    "render.py": f"""
        from flask import render_template_string

        from smoke_app import create_app

        app = create_app()
        print("keyvault_secret" in app.jinja_env.globals)
        page = '[{{{{ keyvault_secret("{NOT_ALLOWED}") }}}}]'
        with app.app_context():
            print(render_template_string(page))
        app.debug = True
        with app.app_context():
            try:
                render_template_string(page)
            except Exception as error:
                print(type(error).__name__)
    """,
}


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text).lstrip())


def test_django_project_on_the_wheel(venv: Path, outside: Path) -> None:
    _write(outside, DJANGO_FILES)
    python, env = venv / "bin" / "python", _clean_env(venv)
    assert "System check identified no issues" in _ok(_run([python, "manage.py", "check"], outside, env, RUN_TIMEOUT))
    usage = _ok(_run([python, "manage.py", "appauth", "--help"], outside, env, RUN_TIMEOUT))
    assert all(command in usage for command in ("whoami", "token", "secret", "check")), usage
    rendered = _ok(_run([python, "render.py"], outside, env, RUN_TIMEOUT)).split()
    assert rendered == ["[]", "TemplateSecretNotAllowedError"]


def test_flask_app_on_the_wheel(venv: Path, outside: Path) -> None:
    _write(outside, FLASK_FILES)
    env = _clean_env(venv)
    usage = _ok(_run([venv / "bin" / "flask", "--app", "smoke_app", "appauth", "--help"], outside, env, RUN_TIMEOUT))
    assert all(command in usage for command in ("whoami", "token", "secret", "check")), usage
    rendered = _ok(_run([venv / "bin" / "python", "render.py"], outside, env, RUN_TIMEOUT)).split()
    assert rendered == ["True", "[]", "TemplateSecretNotAllowedError"]
