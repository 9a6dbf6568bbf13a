"""State import (app/state_export.py) takes module keys only: the node's own records (its meta
keys, the tree's nodes) are never state, whatever app hash a file claims over them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.state_export import FORMAT, BadStateExport, import_state
from modules.encoding import u64
from tests.reference_tree import reference_root

FORGED_KEY = b"\x00meta/app_hash_at/" + u64(3)  # the node's record of its app hash at height 3


def test_an_export_carrying_a_node_local_key_is_refused(tmp_path: Path) -> None:
    items = [(b"bank/a", b"1"), (FORGED_KEY, bytes(32))]
    claimed = reference_root(dict(items))  # the root over both: what a forger would claim
    exported = {"format": FORMAT, "chain_id": "c", "height": 5, "app_hash": claimed.hex(), "block_time_ms": 0,
                "stores": {"bank/": [[items[0][0].hex(), items[0][1].hex()]],
                           "\x00meta/": [[items[1][0].hex(), items[1][1].hex()]]}}
    with pytest.raises(BadStateExport, match="node's own record"):
        import_state(exported, tmp_path / "db")
