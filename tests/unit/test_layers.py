"""The import graph of ``platform/podium``, read from the code with ``ast``: no import circles
between modules, and no import from a lower layer to a higher one. Every import counts:
top-level, inside functions, and under ``TYPE_CHECKING`` (a type a module names is still a
module it depends on). Imports by name in strings (``importlib``, handler settings) are not
seen.

The layers are written here once, as ARCHITECTURE.md names them. A new top-level module or
package must be placed in one, or this test fails.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PLATFORM = Path(__file__).resolve().parents[2] / "platform"

# Top to bottom. A module may import its own layer and the layers below it. A name is a
# module or package prefix; the longest one that matches a module decides its layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("edges", (
        "podium.__main__", "podium.cli", "podium.services", "podium.web", "podium.api",
        "podium.dashboard", "podium.gitserver.app", "podium.gitserver.hook",
        # GET /metrics of the API process: reads the store and what every process recorded.
        "podium.metrics.exporter",
    )),
    ("controller", (
        "podium.controller",
        # Backup and restore read the store, the repositories and the quota images.
        "podium.backup",
    )),
    ("builds, scheduler, proxy", ("podium.builds", "podium.scheduler", "podium.proxy")),
    ("builder, store, spaces, routes", (
        "podium.builder", "podium.store", "podium.spaces", "podium.gitserver",
        # The route table: the contract controller and scheduler write and the proxy reads.
        "podium.routes", "podium.grants",
        # Images on their way to a cluster's nodes: pushed by builds, pulled by reference.
        "podium.registry",
        # Visit counters: written by the proxy, read by the API and dashboard.
        "podium.analytics",
    )),
    ("shared leaves", (
        "podium", "podium.names", "podium.config", "podium.errors", "podium.keys",
        "podium.netguard", "podium.bridges", "podium.firewall", "podium.redirects",
        "podium.locks", "podium.throttle", "podium.plugins", "podium.resources",
        "podium.gitserver.paths", "podium.children",
        # Recording metrics into Redis: the worker, scheduler and proxy call it.
        "podium.metrics",
    )),
]

# Inside one layer, pairs of packages where the first must not import the second: the
# dashboard is built on the API's dependencies, so the API does not reach into it.
NOT_WITHIN: set[tuple[str, str]] = {("podium.api", "podium.dashboard")}

# Exceptions, each with its reason. Empty since issue 11's restructuring merged: keep it so;
# a new violation is a bug to fix, not an entry to add.
ALLOWED_UPWARD: set[tuple[str, str]] = set()
ALLOWED_CIRCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((PLATFORM / "podium").rglob("*.py")):
        parts = list(path.relative_to(PLATFORM).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(module: str, path: Path) -> Iterator[str]:
    """The podium modules ``module`` imports: ``from pkg import sub`` names the submodule
    when ``sub`` is one, else the package."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                yield sub if sub in MODULES else source


@cache
def graph() -> dict[str, frozenset[str]]:
    edges: dict[str, frozenset[str]] = {}
    for module, path in MODULES.items():
        edges[module] = frozenset(
            name for name in _imported(module, path)
            if (name == "podium" or name.startswith("podium.")) and name != module
        )
    return edges


def _owner(module: str, names: tuple[str, ...]) -> str | None:
    matches = [n for n in names if module == n or module.startswith(f"{n}.")]
    return max(matches, key=len) if matches else None


def layer_of(module: str) -> int:
    """Index in LAYERS (0 = top) of the longest layer name that ``module`` falls under."""
    best: tuple[int, int] | None = None  # (length of the name, layer)
    for index, (_title, names) in enumerate(LAYERS):
        owner = _owner(module, names)
        if owner is not None and (best is None or len(owner) > best[0]):
            best = (len(owner), index)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return best[1]


def circles(edges: dict[str, frozenset[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def upward_imports(edges: dict[str, frozenset[str]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for module, imported in edges.items():
        for name in imported:
            if layer_of(name) < layer_of(module):
                out.add((module, name))
            elif any(_owner(module, (a,)) and _owner(name, (b,)) for a, b in NOT_WITHIN):
                out.add((module, name))
    return out


def test_every_import_names_a_module_that_exists() -> None:
    # A stale path (a module moved by one change, imported by another) would otherwise
    # drop out of the graph and hide its edge.
    missing = {(m, n) for m, names in graph().items() for n in names if n not in MODULES}
    assert not missing, f"imports of podium modules that do not exist: {sorted(missing)}"


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_import_circles() -> None:
    found = set(circles(graph()))
    new = sorted(sorted(c) for c in found - ALLOWED_CIRCLES)
    assert not new, f"import circles between modules: {new}"
    fixed = sorted(sorted(c) for c in ALLOWED_CIRCLES - found)
    assert not fixed, f"gone from the code, so remove from ALLOWED_CIRCLES: {fixed}"


def test_no_import_runs_up_the_layers() -> None:
    found = upward_imports(graph())
    new = sorted(found - ALLOWED_UPWARD)
    assert not new, (
        "imports from a lower layer to a higher one (module -> imported): "
        + "; ".join(f"{m} [{LAYERS[layer_of(m)][0]}] -> {n} [{LAYERS[layer_of(n)][0]}]"
                    for m, n in new)
    )
    fixed = sorted(ALLOWED_UPWARD - found)
    assert not fixed, f"gone from the code, so remove from ALLOWED_UPWARD: {fixed}"


def test_the_checks_see_what_they_check() -> None:
    """The graph reader and the two rules, on a few edges known to exist or not."""
    edges = graph()
    # A top-level import, one inside a function, one under TYPE_CHECKING.
    assert "podium.scheduler.service" in edges["podium.controller.platform"]
    assert "podium.scheduler" in edges["podium.controller.platform"]  # get_backend, lazily
    assert "podium.scheduler.service" in edges["podium.scheduler.loop"]  # TYPE_CHECKING
    assert circles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}),
                    "d": frozenset({"a"})}) == [frozenset({"a", "b", "c"})]
    assert upward_imports({"podium.store.db": frozenset({"podium.controller.platform"})}) == {
        ("podium.store.db", "podium.controller.platform")
    }
    assert upward_imports({"podium.api.x": frozenset({"podium.dashboard.y"})})
    assert not upward_imports({"podium.dashboard.y": frozenset({"podium.api.deps"})})
