"""The import graph of the product packages: layered, and without cycles.

Every import counts, including those inside functions, under ``TYPE_CHECKING`` and
``importlib.import_module("...")`` with a literal name: a lazy import is still a
dependency, only hidden. The layers, lowest first::

    core ← index ← matcher ← {ingest, digest} ← bot ← api ← devtools ← cli

A package may import its own modules and the packages of lower layers, nothing else
(``ingest`` and ``digest`` share a layer and do not import each other).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from core.config import REPO_ROOT

LAYERS: dict[str, int] = {
    "core": 0,
    "index": 1,
    "matcher": 2,
    "ingest": 3,
    "digest": 3,
    "bot": 4,
    "api": 5,
    "devtools": 6,
    "cli": 7,
}

Graph = Mapping[str, set[str]]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(name: str, modules: Iterable[str]) -> str | None:
    """The longest known module that ``name`` is or lies in (``a.b.c`` → ``a.b``)."""
    known = set(modules)
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                drop = node.level - 1 if is_package else node.level
                base = base[: len(base) - drop] if drop else base
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            names.add(target)
            # "from pkg import module" imports the module pkg.module.
            names.update(f"{target}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def module_graph(root: Path = REPO_ROOT) -> dict[str, set[str]]:
    """Module → the product modules it imports (itself excluded)."""
    files = {
        _module_name(path): path
        for package in LAYERS
        if (root / package).is_dir()
        for path in (root / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set()
        for name in _imported_names(tree, module, path.name == "__init__.py"):
            if name.split(".")[0] not in LAYERS:
                continue
            resolved = _resolve(name, files)
            if resolved is not None and resolved != module:
                targets.add(resolved)
        graph[module] = targets
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def package_graph(graph: Graph) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = module.split(".")[0]
        packages.setdefault(mine, set()).update(
            t.split(".")[0] for t in targets if t.split(".")[0] != mine
        )
    return packages


def layering_violations(graph: Graph) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        mine = module.split(".")[0]
        for target in sorted(targets):
            theirs = target.split(".")[0]
            if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
                bad.append(f"{module} -> {target}")
    return bad


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return module_graph()


def test_the_graph_is_read(graph: dict[str, set[str]]) -> None:
    # A sanity floor, so that a broken reader cannot pass the tests below on an empty graph.
    assert len(graph) > 60
    assert "core.models" in graph["core.catalogue"]
    assert any(t.startswith("matcher.") for t in graph["api.routes.public"])


def test_no_cycle_between_packages(graph: dict[str, set[str]]) -> None:
    assert cycles(package_graph(graph)) == []


def test_no_cycle_between_modules(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_packages_import_only_lower_layers(graph: dict[str, set[str]]) -> None:
    assert layering_violations(graph) == []


def test_the_checks_catch_what_they_look_for() -> None:
    looped = {"bot.a": {"bot.b"}, "bot.b": {"bot.c"}, "bot.c": {"bot.a"}, "core.x": set()}
    assert cycles(looped) == [["bot.a", "bot.b", "bot.c"]]
    upward = {"matcher.peers": {"bot.messages"}, "bot.messages": set()}
    assert layering_violations(upward) == ["matcher.peers -> bot.messages"]
    assert cycles(package_graph({"api.app": {"cli.wiring"}, "cli.wiring": {"api.deps"}})) == [
        ["api", "cli"]
    ]
    sideways = {"digest.compose": {"ingest.readers"}, "ingest.readers": set()}
    assert layering_violations(sideways) == ["digest.compose -> ingest.readers"]
