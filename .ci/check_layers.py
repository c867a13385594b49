"""Fail when the package's imports form a circle or run from a lower layer to a higher one.

Usage: python .ci/check_layers.py   (from the repository root; no third-party packages needed)

The layers, lowest first (docs/design.md, "Package layout"). A module may import its own part and
the parts of lower layers; two parts of one layer may not import each other:

    errors < config < format < redis_io < sync | store < aio < redis_ckpt (the public face)
        < cli | integrations < the documented paths of the integrations (redis_ckpt.tracing, ...)

The import graph is read with `ast`, not by importing the package: every `import` and `from ...
import` counts, at module level, inside functions and under `if TYPE_CHECKING:` alike, since each
of them ties the two modules together for a reader. `from pkg import name` where `pkg.name` is a
module counts as an import of that module. The import of a package's `__init__` that Python makes
before any of its modules is not counted (every module would otherwise sit in a circle with the face).
Besides, the stored format is pure: nothing in `redis_ckpt.format` imports `redis` or `redisvl`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "redis_ckpt"
# Lowest first; the parts of one tuple are one layer and may not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("redis_ckpt.errors",),
    ("redis_ckpt.config",),
    ("redis_ckpt.format",),
    ("redis_ckpt.redis_io",),
    ("redis_ckpt.sync", "redis_ckpt.store"),
    ("redis_ckpt.aio",),
    ("redis_ckpt",),  # the face: redis_ckpt/__init__.py alone
    ("redis_ckpt.cli", "redis_ckpt.integrations"),
    (
        "redis_ckpt.tracing",
        "redis_ckpt.testing",
        "redis_ckpt.agent_server",
        "redis_ckpt.demo",
        "redis_ckpt.embedded",
    ),
]
# Top-level packages a part must not import.
FORBIDDEN = {"redis_ckpt.format": ("redis", "redisvl")}


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported name, line) for every import in the module, relative ones resolved."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            submodules = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in known]
            if len(submodules) < len(node.names):  # some names are not modules: the source itself
                yield source, node.lineno
            for submodule in submodules:
                yield submodule, node.lineno


def part_of(module: str) -> tuple[int, str] | None:
    """(layer index, part) of a module: the longest part that is the module or holds it."""
    best: tuple[int, str] | None = None
    for index, layer in enumerate(LAYERS):
        for part in layer:
            holds = module == part or (part != PACKAGE and module.startswith(part + "."))
            if holds and (best is None or len(part) > len(best[1])):
                best = (index, part)
    return best


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or with an import of itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
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
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    problems: list[str] = []
    for name, path in known.items():
        here = part_of(name)
        if here is None:
            problems.append(f"{path}: module {name} is in no layer (add its part to LAYERS in .ci/check_layers.py)")
            continue
        for imported, line in imports(name, path, known):
            where = f"{path.relative_to(root)}:{line}"
            top = imported.split(".")[0]
            if top in FORBIDDEN.get(here[1], ()):
                problems.append(f"{where}: {name} imports {imported}: {here[1]} may not import {top}")
            if top != PACKAGE:
                continue
            target = imported if imported in known else imported.rsplit(".", 1)[0]
            if target not in known or target == name:
                continue
            graph[name].add(target)
            there = part_of(target)
            if there is None or there[1] == here[1]:
                continue
            if there[0] > here[0]:
                problems.append(f"{where}: {name} ({here[1]}) imports {target} from a higher layer ({there[1]})")
            elif there[0] == here[0]:
                problems.append(f"{where}: {name} ({here[1]}) imports {target} from its peer {there[1]}")
    for component in circles(graph):
        problems.append("circle: " + " -> ".join(component))
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layer problem(s); the layers are described in .ci/check_layers.py")
        return 1
    print(f"layers ok: {len(known)} modules, {sum(map(len, graph.values()))} imports, no circle, none upward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
