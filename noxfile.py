"""The version matrix: each framework's tests (``FOLDERS``) against the built wheel, on each supported release.

``make matrix`` builds the wheel (``make dist``) and runs every session with the tools the suite needs
(``APPAUTH_AZ_CLI``, ``APPAUTH_AZURITE_BLOB``, ``APPAUTH_REQUIRE_TOOLS``); ``nox -s "django(4.2)"`` runs one.
Sessions use the Python that runs nox. The pytest options, markers and pytest-socket's loopback-only rule
come from pyproject.toml, the emulator fixtures from the installed wheel's pytest plugin.
"""

from __future__ import annotations

from pathlib import Path

import nox
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent
DIST = REPO / "dist"

DJANGO_VERSIONS = ["4.2", "5.2"]
FLASK_VERSIONS = ["3.0", "3.1"]
# Extras of appauth the framework folders exercise (the emulator, the .aio clients, the Redis cache, httpx for
# the downstream APIs' async client), and those only one framework's folder needs (the DRF classes).
SHARED_EXTRAS = ["testing", "aio", "redis", "httpx"]
FRAMEWORK_EXTRAS = {"django": ["rest-framework", "postgresql", "mysql"], "flask": ["postgresql", "mysql", "sqlalchemy"]}
# Each framework's folder, and its part of the passwordless-database suite (real PostgreSQL and MariaDB): the
# backends and dbshell on each Django, Flask-SQLAlchemy on each Flask.
FOLDERS = {
    "django": ["tests/django", "tests/databases/test_django_backends.py"],
    "flask": ["tests/flask", "tests/databases/test_flask_sqlalchemy.py"],
}
# The dev extra's tools that no framework test uses: the linter and the browser tests' driver. (mypy stays:
# the typed-accessor tests run it on a user's view against the installed package.)
NOT_TEST_TOOLS = {"ruff", "playwright"}

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["django", "flask"]


def _wheel() -> Path:
    wheels = sorted(DIST.glob("appauth-*-py3-none-any.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one appauth wheel in {DIST}, found {len(wheels)}: run `make dist` first")
    return wheels[0]


def _test_tools() -> list[str]:
    """The dev extra's requirements, less appauth itself (its extras are chosen per session) and the
    tools in ``NOT_TEST_TOOLS``, so a test dependency added to the dev extra reaches the matrix too."""
    project = nox.project.load_toml(REPO / "pyproject.toml")["project"]
    tools = []
    for line in project["optional-dependencies"]["dev"]:
        name = canonicalize_name(Requirement(line).name)
        if name != project["name"] and name not in NOT_TEST_TOOLS and not name.startswith("types-"):
            tools.append(line)
    return tools


def _run_folders(session: nox.Session, framework: str, version: str) -> None:
    """Installs the wheel with the framework's extra and the shared extras, ``framework`` ``version``.* and
    the test tools into a fresh venv, then runs its ``FOLDERS`` and the installed-package check from the
    checkout with pytest's append import mode: ``tests`` is importable, ``appauth_*`` come from the wheel.
    (The servers some tests start get ``PYTHONPATH`` set to the checkout by the tests themselves.)"""
    wheel = _wheel()
    extras = ",".join([framework.lower(), *SHARED_EXTRAS, *FRAMEWORK_EXTRAS[framework.lower()]])
    session.install(f"{wheel}[{extras}]", f"{framework}=={version}.*", *_test_tools())
    # A venv kept by `nox -r` already holds an appauth of this version, which pip would keep.
    session.install("--force-reinstall", "--no-deps", str(wheel))
    installed = session.run(
        "python", "-I", "-c", f"import importlib.metadata as m; print(m.version({framework!r}))", silent=True
    )
    if not str(installed).startswith(f"{version}."):
        session.error(f"{framework} {version} was asked for, pip installed {installed}")
    session.run(
        "pytest",
        "--import-mode=append",
        *FOLDERS[framework.lower()],
        "tests/packaging/test_installed_package.py",
        *session.posargs,
        env={"APPAUTH_TEST_INSTALLED": str(wheel)},
    )


@nox.session
@nox.parametrize("version", DJANGO_VERSIONS, ids=DJANGO_VERSIONS)
def django(session: nox.Session, version: str) -> None:
    """tests/django and the Django database backends on Django ``version``."""
    _run_folders(session, "Django", version)


@nox.session
@nox.parametrize("version", FLASK_VERSIONS, ids=FLASK_VERSIONS)
def flask(session: nox.Session, version: str) -> None:
    """tests/flask and Flask-SQLAlchemy on the databases on Flask ``version``."""
    _run_folders(session, "Flask", version)
