"""`perpchain exit-proof --home NODE_HOME ADDRESS`: an exit proof read from a stopped node's
LevelDB, for when the chain is down and no node answers queries.

The proof is built by the same code a live node runs (modules/anchor/queries.py), checked
against the record's root before it is returned, and carries the record so the trader can
compare it with the vault's anchor (`nonce`, `balances_root`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plyvel

from app.store import CommittedStore
from modules.anchor.merkle import verify
from modules.anchor.queries import exit_proof
from wire.crypto import keccak256


class OfflineStoreError(Exception):
    """The folder holds no node data, or the node still runs (LevelDB is locked)."""


def node_data_dir(home: Path) -> Path:
    """The app's LevelDB under `home`: the folder itself, a localnet node folder (<node>/app-data),
    or its cometbft home beside app-data."""
    for candidate in (home, home / "app-data", home.parent / "app-data"):
        if (candidate / "CURRENT").is_file():
            return candidate
    raise OfflineStoreError(f"no node data (a LevelDB with a CURRENT file) at {home}, {home / 'app-data'} "
                            f"or {home.parent / 'app-data'}")


def offline_exit_proof(home: Path, address: bytes, nonce: int | None = None) -> dict[str, Any]:
    data = node_data_dir(home)
    try:
        store = CommittedStore(data)
    except plyvel.IOError as error:
        raise OfflineStoreError(f"cannot open {data} ({error}); is the node still running? Then ask it: "
                                f"`perpchain query exit-proof`") from None
    try:
        answer = exit_proof(store, keccak256, address, nonce)
        answer["node_height"] = store.last_commit().height
    finally:
        store.close()
    root = bytes.fromhex(answer["anchor"]["balances_root"][2:])
    nodes = [bytes.fromhex(node[2:]) for node in answer["proof"]]
    if not verify(keccak256, root, address, int(answer["amount_micro_usdc"]), nodes):
        raise OfflineStoreError("the proof read from the node's data does not verify against its record")
    return answer
