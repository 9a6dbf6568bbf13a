"""Whole-state export and import: a node's committed state at its height as one JSON file, and a
fresh data directory restored from it.

The app hash is the root of the state tree over exactly the exported keys (app/tree.py), so an
export carries its own check: import rebuilds the tree from the file's keys and refuses a file
whose root is not the app hash it claims (BadStateExport), then writes the tree's nodes with the
state. A fork from exported state is therefore as verifiable as the header that carries that app
hash. Every module's keys are exported byte for byte, grouped by store prefix (`bank/`,
`orderbook/`, ...), in key order, with the height and block time the state continues from.

    {"format": "perpchain-state/2", "chain_id": "...", "height": 120, "app_hash": "<hex>",
     "block_time_ms": 1800000060000, "stores": {"bank/": [["<key hex>", "<value hex>"], ...], ...}}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from app.store import CommitInfo, CommittedStore
from app.tree import COVERED_START, build_tree
from modules.auth.keeper import AuthKeeper
from modules.encoding import u32

FORMAT = "perpchain-state/2"  # /2: the app hash is the state tree's root, checked on import


class BadStateExport(Exception):
    """A state file that is not one this version wrote, whose keys do not hash to its app hash or
    include the node's own records, or a data directory that is not empty."""


def store_prefix(key: bytes) -> str:
    """The owning module's prefix of a key: everything up to and including the first '/'."""
    cut = key.find(b"/")
    return key[: cut + 1].decode() if cut >= 0 else key.decode(errors="replace")


def export_state(store: CommittedStore) -> dict[str, Any]:
    last = store.last_commit()
    stores: dict[str, list[list[str]]] = {}
    for key, value in store.iterate(COVERED_START, None):
        stores.setdefault(store_prefix(key), []).append([key.hex(), value.hex()])
    return {"format": FORMAT, "chain_id": AuthKeeper(store).chain_id(), "height": last.height,
            "app_hash": last.app_hash.hex(), "block_time_ms": last.block_time_ms, "stores": stores}


def import_state(exported: dict[str, Any], data: Path) -> CommittedStore:
    """A committed store at the export's height, app hash and block time, holding its keys and
    their tree, once the tree's root is checked against the app hash."""
    if exported.get("format") != FORMAT:
        raise BadStateExport(f"not a state export of format {FORMAT!r} (found {exported.get('format')!r})")
    store = CommittedStore(data)
    if store.last_commit().height != 0 or next(iter(store.iterate(COVERED_START, None)), None) is not None:
        store.close()
        raise BadStateExport(f"{data} already holds a chain; import into an empty directory")
    writes: dict[bytes, bytes | None] = {}
    for prefix, pairs in sorted(exported["stores"].items()):
        for key_hex, value_hex in pairs:
            key = bytes.fromhex(key_hex)
            if key < COVERED_START:
                store.close()
                raise BadStateExport(f"key {key_hex} is the node's own record, not state")
            if store_prefix(key) != prefix:
                store.close()
                raise BadStateExport(f"key {key_hex} is filed under {prefix!r}")
            writes[key] = bytes.fromhex(value_hex)
    claimed = bytes.fromhex(exported["app_hash"])
    tree = build_tree((key, value) for key, value in writes.items() if value is not None)
    if tree.root != claimed:
        store.close()
        raise BadStateExport(f"the file's keys hash to {tree.root.hex()}, not to the app hash it claims "
                             f"({claimed.hex()}): it is not the state of that app hash")
    store.commit(writes, CommitInfo(int(exported["height"]), claimed, int(exported["block_time_ms"])), tree)
    return store


def prefix_digests(store: CommittedStore) -> dict[str, str]:
    """sha256 of each store prefix's keys and values in order: two stores are equal prefix by
    prefix when these are."""
    digests: dict[str, Any] = {}
    for key, value in store.iterate(COVERED_START, None):
        digest = digests.setdefault(store_prefix(key), hashlib.sha256())
        digest.update(u32(len(key)) + key + u32(len(value)) + value)
    return {prefix: digest.hexdigest() for prefix, digest in sorted(digests.items())}


def write_export(store: CommittedStore, path: Path) -> dict[str, Any]:
    exported = export_state(store)
    path.write_text(json.dumps(exported, indent=1, sort_keys=True) + "\n")
    return exported


def read_export(path: Path) -> dict[str, Any]:
    try:
        exported: dict[str, Any] = json.loads(path.read_text())
    except ValueError as exc:
        raise BadStateExport(f"{path} is not JSON ({exc})") from None
    return exported
