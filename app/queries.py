"""abci_query paths, answered from committed state (but /book and /orders, from the node's books,
which between FinalizeBlock and Commit hold the decided block): as canonical JSON, but for /store.

Each module declares its paths in its module.py (their answers in its queries.py); the app
answers its own:

| path                              | answer                                                   |
| /app/status                       | {"chain_id", "height", "app_hash", "block_time_ms"}      |
| /app/hash/<height>                | {"height", "app_hash"}: the hash this node committed there |
| /params                           | the genesis params in force: storage tiers, per-block budgets |
| /whatif/<addr>/<n>/<market>/<side>/<price>/<size>/<kind> | a prospective order, simulated (app/whatif.py) |

The raw path STORE_PATH ("/store", `store_query`) answers a store key's bytes at a held height,
with the state tree's proof when asked (prove=true). The app routes the other paths that are not
its own by the registry (modules/registry.py): the longest declared names of the path first
(`/bank/balance/...`, then `/orders/...`), then the number of arguments the query takes
(docs/queries.md lists every path). Integers that can exceed 2^53 are decimal strings, so no JSON
reader loses precision; every integer in a path goes through the one parser (modules/integers.py).
"""

from __future__ import annotations

import json
from typing import Any

from app.store import CommitInfo, CommittedStore
from app.tree import COVERED_START
from app.whatif import what_if
from modules.anchor.msg_server import LatestTree
from modules.context import BlockContext
from modules.genesis import PARAMS_SECTIONS
from modules.integers import I64_MAX, check_range, parse_uint, shown
from modules.orderbook.book import Books
from modules.queries import BadQueryArgument, HeightNotAvailable, QueryContext, VersionNotHeld
from modules.registry import REGISTRY
from modules.store import KVStore
from wire.pb import abci_pb
from wire.proofs import encode_proof

STORE_PATH = "/store"
PROOF_OP_TYPE = "perpchain/state/v1"  # a ProofOp whose data is wire/proofs.py's encoding


def _app_hash_at(store: CommittedStore, text: str) -> dict[str, Any]:
    height = parse_uint(text, "height", 1, I64_MAX)
    app_hash = store.app_hash_at(height)
    if app_hash is None:
        raise HeightNotAvailable(f"this node committed no block at height {height}")
    return {"height": height, "app_hash": app_hash.hex()}


def _module_query(query: QueryContext, parts: list[str]) -> dict[str, Any]:
    route = REGISTRY.queries.get((parts[0], parts[1])) if len(parts) >= 2 else None
    args = parts[2:]
    if route is None and parts:
        route, args = REGISTRY.queries.get((parts[0],)), parts[1:]
    if route is None:
        raise query.unknown()
    if route.arity is not None and len(args) != route.arity:
        raise query.wrong_arity(route.arity, args)
    return route.answer(query, args)


def answer(store: CommittedStore, chain_id: str, last: CommitInfo, path: str, height: int, books: Books,
           anchors: LatestTree, latest: KVStore | None = None) -> bytes:
    """The JSON answer for `path`, or a ChainError. `latest`: the state including a finalized, not yet
    committed block (what-if runs on it). Only height 0 (the latest) or the latest height is served."""
    check_range(height, "query height", 0, I64_MAX)
    if height not in (0, last.height):
        raise HeightNotAvailable(f"height {height} is not served; the latest is {last.height}")
    parts = path.strip("/").split("/") if path.strip("/") else []
    if "" in parts:  # an empty argument would shift the others into the wrong places
        raise BadQueryArgument(f"{shown(path)} has an empty segment between two '/'")
    if parts == ["app", "status"]:
        result: dict[str, Any] = {
            "chain_id": chain_id,
            "height": last.height,
            "app_hash": last.app_hash.hex(),
            "block_time_ms": last.block_time_ms,
        }
    elif parts[:2] == ["app", "hash"] and len(parts) == 3:
        result = _app_hash_at(store, parts[2])
    elif parts[:1] == ["whatif"]:
        ctx = BlockContext(chain_id, last.height + 1, last.block_time_ms)
        result = what_if(latest if latest is not None else store, books, ctx, parts[1:])
    elif parts == ["params"]:
        result = {section.name: section.export_genesis(store)["params"] for section in PARAMS_SECTIONS}
    else:
        result = _module_query(QueryContext(store, last.height, books, anchors, path), parts)
    return json.dumps(result, sort_keys=True, separators=(",", ":")).encode()


def store_query(store: CommittedStore, key: bytes, height: int, prove: bool) -> abci_pb.ResponseQuery:
    """A store key's value at `height` (0: the latest committed; else one of the last
    --proof-versions), and with `prove` its proof against that height's app hash, which the
    header of the next height carries. An absent key answers an empty value, info "absent"."""
    check_range(height, "query height", 0, I64_MAX)
    if key < COVERED_START:
        raise BadQueryArgument(f"key {key.hex() or '(empty)'} is the node's own record, not state: "
                               "state keys start with a module prefix such as bank/")
    version = store.version(height)
    if version is None:
        held = store.held_heights()
        raise VersionNotHeld(f"the state at height {height} is not held; this node holds heights "
                             f"{held[0]} to {held[1]} (--proof-versions)" if held is not None
                             else f"the state at height {height} is not held; this node has committed no block")
    value, proof = version.tree().prove(key) if prove else (version.get(key), None)
    response = abci_pb.ResponseQuery(code=0, key=key, value=value or b"", height=version.height,
                                     info="absent" if value is None else "present")
    if proof is not None:
        response.proof_ops.ops.add(type=PROOF_OP_TYPE, key=key, data=encode_proof(proof))
    return response
