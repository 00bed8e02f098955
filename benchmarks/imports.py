"""The package's import graph, measured: lines per module, module-level import cycles (imports
under ``if TYPE_CHECKING:`` are annotations only and do not count), and imports inside functions.

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


def top_level_imports(tree: ast.Module, known: set[str]) -> set[str]:
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node) if isinstance(node, (ast.Import, ast.ImportFrom, ast.Try, ast.If)) else ():
            if isinstance(sub, ast.Import):
                found |= {a.name for a in sub.names if a.name in known}
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
        graph[name] = {m for m in top_level_imports(tree, known) if m != name and not name.startswith(m + ".")}
        inner += sum(
            1
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            and node.col_offset > 0
            and not any(isinstance(p, ast.If) for p in [])
        )
        sizes[name] = len(text.splitlines())
    found = cycles(graph)
    big = {name: n for name, n in sizes.items() if n > MAX_LINES}
    print(
        f"modules: {len(paths)}, lines: {sum(sizes.values())}, largest: "
        + ", ".join(f"{n} {name}" for name, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
    )
    print(f"indented imports (in functions, try or if blocks): {inner}")
    print(f"import cycles: {len(found)}" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    print(f"modules over {MAX_LINES} lines: {len(big)}" + "".join(f"\n  {n} {name}" for name, n in big.items()))
    return 1 if found or big else 0


if __name__ == "__main__":
    sys.exit(main())
