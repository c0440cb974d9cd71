"""The layers of ``appauth_core``, read from the source's own imports (every import statement, at module level,
in a function or under ``TYPE_CHECKING``): each layer imports only itself and the layers below it, so
``tokens`` never imports ``keyvault`` or ``web``, and no module imports itself back through another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import appauth_core

ROOT = Path(appauth_core.__file__).parent

# Bottom to top. A module may import its own layer and any layer before it in this list.
LAYERS = ("errors", "_internal", "tokens", "keyvault", "web", "__init__")
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
