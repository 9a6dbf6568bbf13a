"""Fails when the project's own modules import each other in a cycle, or a package imports one
it must not (the arrows of docs/architecture.md).

Run as `python -m tests.import_graph` from the repository root (tests/unit/test_import_graph.py
runs it too). Every import counts, at module level or inside a function, except those under
`if TYPE_CHECKING:`, which never run: a cycle dodged by a local import is still a cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Which of the project's packages each may import. The state machine (modules/) imports none; the
# wire format is the modules' action types; the app serves them; client/ is the one way to a node,
# under everything that talks to nodes; tooling (bench/, sim/) and the command line sit on top.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "modules": frozenset(),
    "wire": frozenset({"modules"}),
    "app": frozenset({"modules", "wire"}),
    "client": frozenset({"modules", "wire"}),
    "genesis": frozenset({"client", "modules", "wire"}),
    "bridge": frozenset({"client", "modules", "wire"}),
    "tui": frozenset({"client", "modules", "wire"}),
    "localnet": frozenset({"bridge", "client", "genesis", "modules", "wire"}),
    "indexer": frozenset({"client", "modules", "wire"}),
    "sim": frozenset({"app", "client", "genesis", "modules", "wire"}),
    "bench": frozenset({"app", "client", "genesis", "indexer", "localnet", "modules", "tui", "wire"}),
    "perpchain": frozenset({"app", "bench", "bridge", "client", "genesis", "indexer", "localnet", "modules", "sim", "tui", "wire"}),
}
PACKAGES = tuple(sorted(MAY_IMPORT))


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every first-party module by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")) if (root / package).is_dir() else []:
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names each import statement reaches (for `from a import b`, both `a` and `a.b`)."""
    names: list[str] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))
    return names


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the first-party modules it imports (a package's __init__ counts as the package)."""
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = {name for name in _imported_names(tree, module, path.name == "__init__.py") if name in files}
        graph[module] = targets - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted, in name order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def wrong_arrows(graph: dict[str, set[str]], may_import: dict[str, frozenset[str]] = MAY_IMPORT) -> list[str]:
    """Each import from one package into another that `may_import` does not allow, as `a -> b`."""
    wrong = []
    for module in sorted(graph):
        package = module.split(".")[0]
        for target in sorted(graph[module]):
            other = target.split(".")[0]
            if other != package and other not in may_import[package]:
                wrong.append(f"{module} -> {target}")
    return wrong


def main() -> int:
    files = module_files()
    graph = import_graph(files)
    found = cycles(graph)
    for component in found:
        print("import cycle: " + " <-> ".join(component))
    wrong = wrong_arrows(graph)
    for arrow in wrong:
        print("import against the layering: " + arrow)
    print(f"{len(found)} import cycle(s), {len(wrong)} import(s) against the layering, among {len(files)} modules")
    return 1 if found or wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
