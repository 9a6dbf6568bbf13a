"""Fails if modules/ or app/'s state code uses what makes validators disagree.

Forbidden: floats (the `float` name, float literals, true division `/`), the wall clock and
randomness (time, datetime, random, secrets, uuid, os.urandom), `hash()` (salted per process)
outside a record's own `__hash__` (which only places it in a dict or set, whose order is
guarded next), and iteration in set order (a for loop, comprehension, list/tuple/enumerate/iter/join over a
set literal, set comprehension or set()/frozenset() call). `sorted(set(...))` is fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# app/ files that hold state code; the others (server, node, bench, sigverify, framing) own I/O.
APP_STATE_FILES = ["application.py", "ante.py", "router.py", "store.py", "genesis_state.py", "queries.py"]
FORBIDDEN_MODULES = {"time", "datetime", "random", "secrets", "uuid"}
ORDER_EXPOSING_CALLS = {"list", "tuple", "enumerate", "iter", "next", "zip", "map", "filter"}


def _is_set_expression(node: ast.AST) -> bool:
    if isinstance(node, (ast.Set, ast.SetComp)):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"set", "frozenset"}


def findings(source: str, filename: str = "<source>") -> list[str]:
    """Each determinism hazard in `source`, as `file:line: what`."""
    found: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    tree = ast.parse(source)
    hashing = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for method in node.body
               if isinstance(method, ast.FunctionDef) and method.name == "__hash__" for inner in ast.walk(method)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "float":
            flag(node, "float")
        elif isinstance(node, ast.Constant) and isinstance(node.value, float):
            flag(node, f"float literal {node.value!r}")
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ast.Div):
            flag(node, "true division '/' makes a float; use // and state the rounding")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    flag(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
            flag(node, f"from {node.module} import")
        elif isinstance(node, ast.Attribute) and node.attr == "urandom":
            flag(node, "os.urandom")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hash" \
                and id(node) not in hashing:
            flag(node, "hash() is salted per process")
        elif isinstance(node, (ast.For, ast.comprehension)) and _is_set_expression(node.iter):
            flag(node, "iteration in set order")
        elif isinstance(node, ast.Call) and any(_is_set_expression(a) for a in node.args):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in ORDER_EXPOSING_CALLS or name == "join":
                flag(node, f"{name}() over a set exposes set order")
    return found


def state_code_files() -> list[Path]:
    files = sorted((ROOT / "modules").rglob("*.py"))
    files += [ROOT / "app" / name for name in APP_STATE_FILES]
    return files


@pytest.mark.parametrize(
    "snippet",
    [
        "x = float(3)",
        "x = 0.5",
        "x = a / b",
        "x /= 2",
        "import time",
        "from datetime import datetime",
        "import random",
        "import os\nx = os.urandom(8)",
        "h = hash(b'k')",
        "class A:\n    def key(self): return hash(self.a)",
        "def __hash__(a): return hash(a)",
        "for k in {1, 2}: pass",
        "for k in set(keys): pass",
        "y = [k for k in frozenset(keys)]",
        "y = list(set(keys))",
        "y = ','.join({a, b})",
    ],
)
def test_the_guard_catches_each_hazard(snippet: str) -> None:
    assert findings(snippet), snippet


def test_the_guard_allows_sorted_sets_and_integer_division() -> None:
    assert findings("x = sorted(set(keys))\ny = a // b\nz = -(-a // b)") == []


def test_the_guard_allows_hash_in_a_records_own_hash() -> None:
    assert findings("class A:\n    def __hash__(self): return hash((self.a, self.b))") == []


def test_state_code_is_deterministic() -> None:
    files = state_code_files()
    assert len(files) > 10  # the scan must actually see the code
    problems = [p for f in files for p in findings(f.read_text(), str(f.relative_to(ROOT)))]
    assert problems == []
