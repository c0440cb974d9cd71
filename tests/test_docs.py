"""The documentation site (mkdocs.yml, docs/) against the code: every error class has its section on the
errors page, every Django system check and every setting is on its framework's page, and every page is in
the navigation. `make docs` builds the site itself with --strict (links, anchors, API references)."""

from __future__ import annotations

import builtins
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from flask import Flask

import appauth_django
from appauth_core import AppAuthError
from appauth_flask import AppAuth

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
SUBPROCESS_TIMEOUT = 120  # hang guard: a fresh interpreter importing every module

# Imports every module of the three packages in a fresh interpreter (so no error class defined in a module
# nobody imported yet is missed, and this process's Django stays unconfigured), then walks the tree.
_ERROR_TREE = """
import importlib, json, pkgutil
import appauth_core, appauth_django, appauth_flask
for package in (appauth_core, appauth_django, appauth_flask):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
found, stack = {}, [appauth_core.AppAuthError]
while stack:
    cls = stack.pop()
    stack.extend(cls.__subclasses__())
    if not cls.__name__.startswith("_"):
        found[cls.__name__] = {
            "module": cls.__module__,
            "bases": [base.__name__ for base in cls.__bases__ if not base.__name__.startswith("_")],
            "exported": getattr(appauth_core, cls.__name__, None) is cls,
        }
print(json.dumps(found))
"""

_DJANGO_SETTINGS_ERROR = """
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["appauth_django"], APPAUTH={"NOT_A_SETTING": 1})
django.setup()
from django.core import checks
print("\\n".join(message.msg for message in checks.run_checks(tags=["appauth"]) if message.id == "appauth.E004"))
"""


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, check=True, cwd=REPO
    )
    return result.stdout


def _sections(page: Path) -> dict[str, str]:
    """The page's sections whose heading is one code span (``### `SecretNotFoundError` ``), by that name."""
    sections: dict[str, str] = {}
    name = None
    for line in page.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"#{1,6} ", line)
        if heading:
            match = re.fullmatch(r"#{2,6} `(\w+)`", line.strip())
            name = match.group(1) if match else None
            if name is not None:
                sections[name] = ""
        elif name is not None:
            sections[name] += line + "\n"
    return sections


def _table_codes(page: Path) -> set[str]:
    """The code spans that open a table row: ``| `appauth.E001` | ...`` gives ``appauth.E001``."""
    return set(re.findall(r"^\| `([^`]+)` \|", page.read_text(encoding="utf-8"), re.MULTILINE))


def test_every_error_class_has_a_section_naming_its_bases():
    tree = json.loads(_run(_ERROR_TREE))
    assert "AppAuthError" in tree and "SecretNotFoundError" in tree  # the walk found the tree
    sections = _sections(DOCS / "errors.md")
    missing = sorted(set(tree) - set(sections))
    assert not missing, f"docs/errors.md has no section (### `Name`) for {missing}"
    unknown = sorted(set(sections) - set(tree))
    assert not unknown, f"docs/errors.md has sections for classes that are not appauth errors: {unknown}"
    for name, cls in tree.items():
        text = sections[name]
        line = next((line for line in text.splitlines() if line.startswith("Base: ")), "")
        stated = re.findall(r"`(\w+)`", line.split(".", 1)[0])
        assert stated == cls["bases"], f"docs/errors.md: {name}'s 'Base:' line should name {cls['bases']}"
        if not cls["exported"]:
            assert f"`{cls['module']}`" in text, (
                f"{name} is not exported from appauth_core: its section in docs/errors.md must say it is "
                f"importable from `{cls['module']}`"
            )


def test_the_drawn_error_tree_holds_every_class():
    tree = json.loads(_run(_ERROR_TREE))
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    drawing = page.split("```text", 1)[1].split("```", 1)[0]
    drawn = {name for name in re.findall(r"\b([A-Z]\w+)\b", drawing) if not hasattr(builtins, name)}
    assert sorted(set(tree) - drawn) == [], "classes missing from the tree drawn at the top of docs/errors.md"
    assert sorted(drawn - set(tree)) == [], "the tree drawn in docs/errors.md names classes that do not exist"


def test_every_django_system_check_is_listed():
    package = Path(appauth_django.__file__).parent
    in_code = {
        check
        for source in package.rglob("*.py")
        for check in re.findall(r"appauth\.[EW]\d{3}", source.read_text(encoding="utf-8"))
    }
    assert "appauth.E001" in in_code
    listed = {code for code in _table_codes(DOCS / "django.md") if code.startswith("appauth.")}
    assert sorted(in_code - listed) == [], "system checks missing from the tables in docs/django.md"
    assert sorted(listed - in_code) == [], "docs/django.md lists system checks the code does not have"


def test_every_django_setting_is_in_the_settings_table():
    message = _run(_DJANGO_SETTINGS_ERROR)
    keys = set(re.findall(r"APPAUTH\['(\w+)'\]", message)) - {"NOT_A_SETTING"}
    assert "KEY_VAULT_URL" in keys, message
    missing = sorted(keys - _table_codes(DOCS / "django.md"))
    assert not missing, f"APPAUTH keys missing from the settings table in docs/django.md: {missing}"


def test_every_flask_setting_is_in_the_configuration_table():
    app = Flask(__name__)
    app.config["APPAUTH_NOT_A_SETTING"] = 1
    with pytest.raises(AppAuthError) as caught:  # an unknown APPAUTH_* key: the message lists the valid ones
        AppAuth(app)
    keys = set(re.findall(r"APPAUTH_\w+", str(caught.value))) - {"APPAUTH_NOT_A_SETTING"}
    assert "APPAUTH_KEY_VAULT_URL" in keys
    missing = sorted(keys - _table_codes(DOCS / "flask.md"))
    assert not missing, f"APPAUTH_* keys missing from the configuration table in docs/flask.md: {missing}"


def test_placeholders_in_running_text_stay_text():
    spec = importlib.util.spec_from_file_location("placeholders", DOCS / "_hooks" / "placeholders.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = "| asking http://127.0.0.1:<port>/ | `a <id> in code` | line<br>break |\n```\n<vault>\n```\n<n> s ago\n"
    assert hook.on_page_markdown(page) == (
        "| asking http://127.0.0.1:&lt;port&gt;/ | `a <id> in code` | line<br>break |\n```\n<vault>\n```\n"
        "&lt;n&gt; s ago\n"
    )


def _nav_pages(nav: list[object]) -> list[str]:
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [str(value)]
    return pages


def test_every_page_is_in_the_navigation_and_exists():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(config["nav"])
    assert "errors.md" in nav and "RELIABILITY.md" in nav
    assert [page for page in nav if not (DOCS / page).is_file()] == []
    pages = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md") if "_hooks" not in path.parts}
    assert sorted(pages - set(nav)) == [], "pages in docs/ that the navigation leaves out"
    assert len(nav) == len(set(nav))


README_LIMIT = 8 * 1024  # a one-minute start; the guides are the docs pages


def test_the_readme_is_a_one_minute_start_whose_links_all_resolve():
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) < README_LIMIT
    assert 'pip install "appauth[django]"' in readme
    assert "make demo" in readme and "make test" in readme
    targets = re.findall(r"\]\(([^)#]+)(?:#([^)]+))?\)", readme)
    assert targets
    for path, anchor in targets:
        if "://" in path:
            continue
        page = REPO / path
        assert page.exists(), f"README links to {path}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
            assert anchor in slugs, f"README links to {path}#{anchor}, which has no such heading"
