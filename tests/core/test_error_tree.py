"""The one error tree: every ``AppAuthError`` subclass anywhere in the package is defined in ``errors.py``, drawn
in the tree at the top of that module under its own base (other bases named in its "(also ...)" note), and
exported from ``appauth_core``. Classes with a leading underscore are mixins: defined there, never drawn."""

from __future__ import annotations

import importlib
import pkgutil
import re

import appauth_core
from appauth_core import errors

# The emulator's pytest plugin is left out only because importing it registers fixtures in this session.
SKIP = ("appauth_core.testing.pytest_plugin",)


def every_error_class() -> dict[str, type[BaseException]]:
    """Every subclass of ``AppAuthError`` (at any depth) that a module of the package defines, by name."""
    for module in pkgutil.walk_packages(appauth_core.__path__, "appauth_core."):
        if module.name not in SKIP:
            importlib.import_module(module.name)
    found: dict[str, type[BaseException]] = {}
    pending: list[type[BaseException]] = [errors.AppAuthError]
    while pending:
        cls = pending.pop()
        if cls.__module__.split(".")[0] == "appauth_core":
            found[f"{cls.__module__}.{cls.__qualname__}"] = cls
        pending.extend(cls.__subclasses__())
    return found


def drawn_tree(doc: str) -> dict[str, tuple[str | None, set[str]]]:
    """The tree drawn in ``doc``: name -> (the name it hangs under, the names in its "(also ...)" note)."""
    tree: dict[str, tuple[str | None, set[str]]] = {}
    stack: list[tuple[int, str]] = []  # (column, name) of the branch leading to the current line
    for line in doc.splitlines():
        match = re.match(r"^(?P<lead>[\s│├└─]*?)(?P<name>[A-Z]\w+Error)\b(?P<rest>.*)$", line)
        if match is None or not (match["lead"].strip() or not tree):
            continue
        column = len(match["lead"])
        while stack and stack[-1][0] >= column:
            stack.pop()
        also = re.match(r"\s*\(also ([^)]*)\)", match["rest"])
        tree[match["name"]] = (stack[-1][1] if stack else None, set(also[1].split(", ")) if also else set())
        stack.append((column, match["name"]))
    return tree


def public_bases(cls: type[BaseException]) -> list[str]:
    return [base.__name__ for base in cls.__bases__ if not base.__name__.startswith("_")]


def test_every_error_class_is_defined_in_errors_py():
    classes = every_error_class()
    assert len(classes) > 25  # the walk reached the whole package
    assert sorted(name for name, cls in classes.items() if cls.__module__ != "appauth_core.errors") == []


def test_every_public_error_class_is_drawn_under_its_base():
    tree = drawn_tree(errors.__doc__ or "")
    public = {cls.__name__: cls for cls in every_error_class().values() if not cls.__name__.startswith("_")}
    assert sorted(set(public) - set(tree)) == [], "classes missing from the drawing"
    assert sorted(set(tree) - set(public)) == [], "drawn names that are no error class"
    for name, (parent, also) in tree.items():
        bases = public_bases(public[name])
        if parent is None:
            assert name == "AppAuthError"
            continue
        assert parent in bases, f"{name} is drawn under {parent}, but its bases are {bases}"
        assert set(bases) - {parent} == also, f"{name}'s '(also ...)' note should name {set(bases) - {parent}}"


def test_every_public_error_class_is_exported():
    public = {cls.__name__: cls for cls in every_error_class().values() if not cls.__name__.startswith("_")}
    assert sorted(name for name, cls in public.items() if getattr(appauth_core, name, None) is not cls) == []
    assert sorted(set(public) - set(appauth_core.__all__)) == []


def test_the_old_homes_of_the_moved_errors_still_answer():
    from appauth_core import web
    from appauth_core.tokens.sources import _certificate_store, _confidential_client
    from appauth_core.web import _config, _services

    assert _config.ConfigError is web.ConfigError is appauth_core.ConfigError
    assert _services.TemplateSecretNotAllowedError is web.TemplateSecretNotAllowedError
    assert _services.ReferenceResolutionError is web.ReferenceResolutionError is appauth_core.ReferenceResolutionError
    assert _confidential_client.TokenEndpointError is appauth_core.TokenEndpointError
    assert _certificate_store.CertificateStoreError is appauth_core.CertificateStoreError


def test_the_drawing_reader_sees_a_misplaced_class():
    doc = """
    AppAuthError                 root
     ├── KeyVaultError           a secret
     │    └── SecretNotFoundError
     └── ConfigError             (also ValueError) a setting
    """
    assert drawn_tree(doc) == {
        "AppAuthError": (None, set()),
        "KeyVaultError": ("AppAuthError", set()),
        "SecretNotFoundError": ("KeyVaultError", set()),
        "ConfigError": ("AppAuthError", {"ValueError"}),
    }
    moved = doc.replace(" │    └── SecretNotFoundError", " ├── SecretNotFoundError")
    assert drawn_tree(moved)["SecretNotFoundError"] == ("AppAuthError", set())
