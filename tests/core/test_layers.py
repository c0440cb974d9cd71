"""The layers of ``appauth_core``, read from the source's own imports (every import statement, at module level,
in a function or under ``TYPE_CHECKING``): each layer imports only itself and the layers below it, so
``tokens`` never imports ``keyvault`` or ``web``, and no module imports itself back through another.

And the rule for everything outside the packages (docs/development.md, "Private modules"): a private module
(a leading underscore below the package, such as ``appauth_core.tokens._provider`` or anything in
``appauth_core._internal``) is imported only by its own package and by that package's tests (``OWN_TESTS``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import appauth_core

ROOT = Path(appauth_core.__file__).parent
REPOSITORY = Path(__file__).resolve().parents[2]

# Bottom to top. A module may import its own layer and any layer before it in this list.
LAYERS = (
    "errors",
    "_internal",
    "tokens",
    "keyvault",
    "calls",
    "validation",
    "events",
    "web",
    "databases",
    "sqlalchemy",
    "__init__",
)
# The emulator stands beside the layers: it may use any of them, and none of them may import it.
BESIDE = "testing"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, name: str, *, is_package: bool) -> set[str]:
    """The ``appauth_core`` modules that ``source`` (the module ``name``) imports; ``from x import y`` counts
    as importing ``x.y`` when that is a module, else ``x``."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _is_module(candidate) else target)
    return {module for module in found if module.split(".")[0] == "appauth_core"}


def _is_module(name: str) -> bool:
    path = ROOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer_of(module: str) -> str:
    """``errors``, ``_internal``, ``tokens``, ``keyvault``, ``web``, ``testing`` or ``__init__`` (the root)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that reaches up a layer, into the emulator, or into a module the layers do not know."""
    found = []
    for module, targets in sorted(graph.items()):
        here = layer_of(module)
        for target in sorted(targets):
            there = layer_of(target)
            if here == BESIDE:
                continue
            if there == BESIDE or there not in LAYERS:
                found.append(f"{module} imports {target} ({there} is not a layer {here} may use)")
            elif LAYERS.index(there) > LAYERS.index(here):
                found.append(f"{module} ({here}) imports {target} ({there}), a layer above it")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def package_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = module_name(path)
        graph[name] = imports_of(path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py")
        graph[name].discard(name)
    return graph


def test_every_layer_imports_only_itself_and_the_layers_below():
    graph = package_graph()
    assert {layer_of(module) for module in graph} == {*LAYERS, BESIDE}  # every module sits in a known layer
    assert violations(graph) == []


def test_tokens_imports_nothing_of_keyvault_or_web():
    graph = package_graph()
    tokens = {module: targets for module, targets in graph.items() if layer_of(module) == "tokens"}
    assert len(tokens) > 20  # the provider, its cache and every source were read
    above = {target for targets in tokens.values() for target in targets if layer_of(target) in ("keyvault", "web")}
    assert above == set()


def test_no_module_imports_itself_back():
    assert cycles(package_graph()) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("appauth_core.tokens._provider", "from ..keyvault._secrets import KeyVaultSecrets\n", "a layer above it"),
        ("appauth_core.tokens.sources._chain", "def f():\n    from ...web import AppAuthConfig\n", "a layer above"),
        ("appauth_core._internal.fork_safety", "from ..tokens._cache import TokenCache\n", "a layer above"),
        ("appauth_core.keyvault._secrets", "import appauth_core.testing.emulator\n", "is not a layer"),
    ],
)
def test_the_check_catches_an_import_that_reaches_up(module, source, expected):
    graph = {module: imports_of(source, module, is_package=False)}
    assert graph[module]  # the import was read, relative or absolute, at any depth
    assert len(violations(graph)) == 1
    assert expected in violations(graph)[0]


def test_the_check_catches_a_cycle():
    config, services = "appauth_core.web._config", "appauth_core.web._services"
    graph = {
        config: imports_of("from ._services import x\n", config, is_package=False),
        services: imports_of("def f():\n    from ._config import y\n", services, is_package=False),
    }
    assert cycles(graph) == [["appauth_core.web._config", "appauth_core.web._services"]]


# --- private modules, seen from outside their package -------------------------------------------------------

OWN_TESTS = {
    # appauth_core's tests: its units (core), the emulator's (standins), integrated Windows authentication
    # against a real KDC (kerberos), and the security, limits and fault suites, which drive each source and the
    # vault client directly (hardening); the passwordless-database suite against real servers, which holds the
    # token cache's refresh wait for its one-password arrangement (databases); the suite's shared fixtures, which
    # stop their servers as the emulator's helpers do (tests/conftest.py); and the two benchmarks that time the
    # core's hot path step by step.
    "appauth_core": ("tests/core", "tests/standins", "tests/kerberos", "tests/hardening", "tests/databases",
                     "tests/conftest.py", "bench/cached_token.py", "bench/cached_secret.py"),
    "appauth_django": ("tests/django",),
    "appauth_flask": ("tests/flask",),
}  # fmt: skip
OUTSIDE = ("tests", "bench", "demo_sites")  # every other folder of tests/ and bench/ imports public names only


def is_private(module: str) -> bool:
    """``appauth_core.tokens._provider``, ``appauth_core._internal.fork_safety``: a part below the package that
    starts with an underscore (``__main__``, ``python -m``'s entry point, is public)."""
    return any(part.startswith("_") and not part.endswith("__") for part in module.split(".")[1:])


def imported_modules(source: str) -> set[str]:
    """Every module ``source`` imports by absolute name (``from a.b import c`` counts ``a.b`` and ``a.b.c``,
    since c may be a module), and every string literal given to ``import_module``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            found.update(arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant) and type(arg.value) is str)
    return found


def private_imports_outside(path: Path, source: str) -> list[str]:
    """The private modules ``source`` (at ``path``, relative to the repository) imports but may not."""
    where = path.as_posix()
    wrong = []
    for module in sorted(imported_modules(source)):
        package = module.split(".")[0]
        if package in OWN_TESTS and is_private(module):
            allowed = OWN_TESTS[package]
            if not any(where == place or where.startswith(place + "/") for place in allowed):
                wrong.append(f"{where} imports {module}, a private module of {package}")
    return wrong


def test_only_a_packages_own_tests_import_its_private_modules():
    files = [path for folder in OUTSIDE for path in sorted((REPOSITORY / folder).rglob("*.py"))]
    assert len(files) > 100  # the test suites, the benchmarks and the demo sites were read
    wrong = [
        problem
        for path in files
        for problem in private_imports_outside(path.relative_to(REPOSITORY), path.read_text(encoding="utf-8"))
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("path", "source", "caught"),
    [
        ("tests/django/test_x.py", "from appauth_core.keyvault import _vault_client\n", True),
        ("tests/flask/test_x.py", "from appauth_core._internal.fork_safety import reset_in_child\n", True),
        ("tests/e2e/test_x.py", "def f():\n    import appauth_core.tokens.sources._managed_identity\n", True),
        ("bench/startup_references.py", "importlib.import_module('appauth_core.keyvault._secrets')\n", True),
        ("tests/core/test_x.py", "from appauth_django import _sensitive\n", True),
        ("tests/core/test_x.py", "from appauth_core.tokens._provider import AzureServiceTokenProvider\n", False),
        ("tests/hardening/test_x.py", "from appauth_core.tokens.sources import _base\n", False),
        ("tests/django/test_x.py", "from appauth_django import _sensitive\n", False),
        ("tests/django/test_x.py", "from appauth_core.testing import AzureEmulator\n", False),
        ("demo_sites/run.py", "import appauth_core.testing.__main__\n", False),
    ],
)
def test_the_check_knows_whose_tests_may_import_what(path, source, caught):
    assert bool(private_imports_outside(Path(path), source)) is caught
