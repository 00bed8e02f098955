"""The package's import graph, measured: lines per module, import cycles between modules and
between packages (imports under ``if TYPE_CHECKING:`` are annotations only and do not count), and
imports that are not at the top of a module.

    python benchmarks/imports.py          # prints the numbers; exit 1 on a cycle or a module over 400 lines
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ultra_env"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(tree: ast.Module, known: set[str]) -> set[str]:
    """Every in-package module this one imports when it runs: at the top or inside a function (a
    lazy import is a dependency too), but not under ``if TYPE_CHECKING:``."""
    skipped = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in ast.walk(node)
    }
    found: set[str] = set()
    for sub in ast.walk(tree):
        if id(sub) in skipped:
            continue
        if isinstance(sub, ast.Import):
            found |= {a.name for a in sub.names}
        elif isinstance(sub, ast.ImportFrom) and sub.module:
            for alias in sub.names:
                full = f"{sub.module}.{alias.name}"
                found.add(full if full in known else sub.module)
    return {name for name in found if name in known}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def main() -> int:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    inner = 0
    sizes = {}
    for path in paths:
        text = path.read_text()
        tree = ast.parse(text)
        name = module_name(path)
        # a package's own __init__ is imported with its modules: not an edge of the cycle check
        graph[name] = {m for m in runtime_imports(tree, known) if m != name and not name.startswith(m + ".")}
        inner += sum(
            1
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            and node.col_offset > 0
            and not any(isinstance(p, ast.If) for p in [])
        )
        sizes[name] = len(text.splitlines())
    found = cycles(graph)
    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        packages.setdefault(_package(name), set()).update(_package(t) for t in targets)
    for name, targets in packages.items():
        targets.discard(name)
        packages.setdefault(name, set())
        for target in targets:
            packages.setdefault(target, set())
    layered = cycles(packages)
    big = {name: n for name, n in sizes.items() if n > MAX_LINES}
    print(
        f"modules: {len(paths)}, lines: {sum(sizes.values())}, largest: "
        + ", ".join(f"{n} {name}" for name, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
    )
    print(f"imports not at the top (in functions, try or if blocks): {inner}")
    print(f"import cycles: {len(found)}" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    print(
        f"package cycles (a package importing one that imports it): {len(layered)}"
        + "".join(f"\n  {' <-> '.join(c)}" for c in layered)
    )
    print(f"modules over {MAX_LINES} lines: {len(big)}" + "".join(f"\n  {n} {name}" for name, n in big.items()))
    return 1 if found or layered or big else 0


def _package(module: str) -> str:
    """``ultra_env.operations.dmr`` → ``operations``; a top-level module is its own package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


if __name__ == "__main__":
    sys.exit(main())
