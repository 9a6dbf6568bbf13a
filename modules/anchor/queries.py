"""anchor's abci_query answers (JSON-ready dicts; module.py declares `/anchor/...`).

| path                                  | answer                                                      |
| /anchor/status                        | interval, latest record, its signatures and whether > 2/3 signed |
| /anchor/records/<nonce>               | one record with its signatures and bond debits for Vault.anchor |
| /anchor/proof/<address>[/<nonce>]     | the address's anchored amount and Merkle proof (latest, or the one before) |

`exit_proof` is also what `perpchain exit-proof --home` runs on a stopped node's LevelDB.
"""

from __future__ import annotations

from typing import Any

from modules.anchor.errors import AnchorStateUnavailable, BadAnchorQuery, NoClaimableBalance, UnknownAnchor
from modules.anchor.expected_keepers import Keccak
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree
from modules.anchor.msg_server import counted_power
from modules.anchor.types import AnchorRecord
from modules.bridge.keeper import BridgeKeeper, supermajority
from modules.integers import U64_MAX, parse_uint
from modules.store import KVStore

PATHS = "/anchor/status, /anchor/records/<nonce>, /anchor/proof/<0x address>[/<nonce>]"


def _hex(raw: bytes) -> str:
    return f"0x{raw.hex()}"


def record_json(record: AnchorRecord) -> dict[str, Any]:
    return {"nonce": str(record.nonce), "chain_id": record.chain_id, "height": str(record.height),
            "app_hash": record.app_hash.hex().upper(), "balances_root": _hex(record.balances_root),
            "total_claimable_micro_usdc": str(record.total_claimable_micro_usdc),
            "deposit_nonce": str(record.deposit_nonce), "withdrawal_id": str(record.withdrawal_id),
            "withdrawn_total_micro_usdc": str(record.withdrawn_total_micro_usdc),
            "bond_debits_hash": _hex(record.bond_debits_hash), "leaf_count": record.leaf_count, "time_ms": str(record.time_ms),
            "shortfall_micro_usdc": str(record.shortfall_micro_usdc), "gains_micro_usdc": str(record.gains_micro_usdc)}


def record_with_signatures(store: KVStore, nonce: int) -> dict[str, Any]:
    """`vault_signatures`: (r, s, v) ordered by the signing key, as Vault.anchor takes them; each
    of `signatures` names its key and counts `power` only if it is still the validator's key. A
    relayer sends the vault only signatures by keys the vault holds (bridge/anchor_relay.py).
    `bond_debits`: the list whose hash the record carries, Vault.anchor's third argument."""
    keeper, bridge = AnchorKeeper(store), BridgeKeeper(store)
    record = keeper.record(nonce)
    if record is None:
        raise UnknownAnchor(f"no anchor {nonce}; the latest is {keeper.latest_nonce()}")
    signed = sorted((eth_address, consensus_address, counted_power(bridge, consensus_address, eth_address), signature)
                    for consensus_address, eth_address, signature in keeper.signatures(nonce))  # as the vault wants
    power, total = sum(p for _, _, p, _ in signed), bridge.total_power()
    debits = keeper.bond_debits(record.bond_debits_hash)
    assert debits is not None, "every record's bond debits are stored with it"
    return {"record": record_json(record), "signed_power": str(power), "total_power": str(total),
            "bond_debits": [{"signer": _hex(signer), "debited_total_micro_usdc": str(debited)} for signer, debited in debits],
            "ready": supermajority(power, total),
            "signatures": [{"validator": c.hex().upper(), "eth_address": _hex(e), "power": str(p)}
                           for e, c, p, _ in signed],
            "vault_signatures": [["0x" + s[:32].hex(), "0x" + s[32:64].hex(), s[64]] for _, _, _, s in signed]}


def status(store: KVStore) -> dict[str, Any]:
    keeper = AnchorKeeper(store)
    params = keeper.params()
    latest = keeper.latest_nonce()
    return {"enabled": params is not None and BridgeKeeper(store).params() is not None,
            "interval_blocks": params.interval_blocks if params else None,
            "latest_nonce": str(latest), "latest": record_with_signatures(store, latest) if latest else None}


def tree_for(store: KVStore, keccak: Keccak, nonce: int, live_tree: BalanceTree | None = None) -> BalanceTree:
    """The tree of anchor `nonce`: the latest's from the node's memory when it matches, otherwise
    rebuilt from the stored leaves; the one before from the undo journal."""
    keeper = AnchorKeeper(store)
    latest = keeper.latest_nonce()
    record = keeper.record(nonce)
    if record is None:
        raise UnknownAnchor(f"no anchor {nonce}; the latest is {latest}")
    if nonce == latest:
        if live_tree is not None and live_tree.root == record.balances_root:
            return live_tree
        tree = BalanceTree(keccak, keeper.leaves())
    elif nonce == latest - 1:
        tree = BalanceTree(keccak, keeper.previous_leaves())
    else:
        raise AnchorStateUnavailable(f"anchor {nonce} is older than the one before the latest ({latest})")
    if tree.root != record.balances_root:
        raise AnchorStateUnavailable(f"the stored leaves of anchor {nonce} do not rebuild its root")
    return tree


def exit_proof(store: KVStore, keccak: Keccak, address: bytes, nonce: int | None = None,
               live_tree: BalanceTree | None = None) -> dict[str, Any]:
    """Everything `Vault.exit(amount, proof)` needs for `address` against anchor `nonce` (latest
    by default), with the record the proof belongs to."""
    keeper = AnchorKeeper(store)
    chosen = nonce if nonce is not None else keeper.latest_nonce()
    if chosen == 0:
        raise UnknownAnchor("no anchor yet")
    tree = tree_for(store, keccak, chosen, live_tree)
    record = keeper.record(chosen)
    assert record is not None
    if tree.position(address) is None:
        raise NoClaimableBalance(f"{_hex(address)} has no claimable balance in anchor {chosen}")
    return {"address": _hex(address), "amount_micro_usdc": str(tree.amount(address)),
            "proof": [_hex(node) for node in tree.proof(address)], "position": tree.position(address),
            "anchor": record_json(record)}


def _address(text: str) -> bytes:
    body = text[2:] if text.lower().startswith("0x") else ""
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise BadAnchorQuery(f"{text[:50]!r} is not a 0x-prefixed 20-byte address")
    return raw


def _nonce(text: str) -> int:
    return parse_uint(text, "anchor nonce", 0, U64_MAX)


def answer(store: KVStore, keccak: Keccak, args: list[str], live_tree: BalanceTree | None = None) -> dict[str, Any]:
    """Route `/anchor/<args...>`."""
    if args == ["status"]:
        return status(store)
    if len(args) == 2 and args[0] == "records":
        return record_with_signatures(store, _nonce(args[1]))
    if len(args) in (2, 3) and args[0] == "proof":
        return exit_proof(store, keccak, _address(args[1]), _nonce(args[2]) if len(args) == 3 else None, live_tree)
    raise BadAnchorQuery(f"anchor paths: {PATHS}")
