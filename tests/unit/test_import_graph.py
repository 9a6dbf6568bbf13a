"""The project's modules import each other without cycles and along the layering (tests/import_graph.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.import_graph import ROOT, cycles, import_graph, module_files, wrong_arrows


def test_a_cycle_of_three_is_found_and_a_chain_is_not() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_imports_inside_functions_count_and_type_checking_imports_do_not(tmp_path: Path) -> None:
    package = tmp_path / "app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("def f():\n    from app import two\n")
    (package / "two.py").write_text("from typing import TYPE_CHECKING\nimport app.one\nif TYPE_CHECKING:\n    from app import three\n")
    (package / "three.py").write_text("from .two import something\n")
    graph = import_graph(module_files(tmp_path))
    assert graph["app.one"] == {"app", "app.two"}
    assert graph["app.two"] == {"app.one"}
    assert graph["app.three"] == {"app.two"}
    assert cycles(graph) == [["app.one", "app.two"]]



def test_an_import_the_layering_does_not_allow_is_named() -> None:
    graph = {"modules.bank.keeper": {"modules.types", "app.store"}, "app.store": {"modules.types"}, "modules.types": set()}
    may_import = {"modules": frozenset(), "app": frozenset({"modules"})}
    assert wrong_arrows(graph, may_import) == ["modules.bank.keeper -> app.store"]


def test_the_project_has_no_import_cycle_and_no_import_against_the_layering() -> None:
    run = subprocess.run([sys.executable, "-m", "tests.import_graph"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
    assert "0 import cycle(s), 0 import(s) against the layering" in run.stdout
