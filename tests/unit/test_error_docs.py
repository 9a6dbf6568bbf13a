"""docs/errors.md lists every registered error with its code and codespace."""

from __future__ import annotations

import re
from pathlib import Path

import app.queries  # noqa: F401  (registers the query errors)
from modules.errors import all_errors

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_every_error_code_has_its_row_in_the_docs() -> None:
    rows = {int(m.group(1)): (m.group(2), m.group(3)) for m in re.finditer(r"^\| (\d+) \| (\w+) \| (\w+) \|", DOC.read_text(), re.M)}
    registered = {e.code: (e.codespace, e.__name__) for e in all_errors()}
    assert registered, "no errors registered"
    missing = {code: row for code, row in registered.items() if rows.get(code) != row}
    assert missing == {}
