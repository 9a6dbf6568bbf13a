"""The check that must hold after every anchor: the stored leaves are exactly the claimable
amounts recomputed from scratch, and rebuilding the tree from them gives the record's root."""

from __future__ import annotations

from modules.anchor.claimable import MODULE_ADDRESSES
from modules.anchor.expected_keepers import Keccak
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree
from modules.bank.keeper import BankKeeper
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.store import KVStore
from modules.types import SubaccountId


def claimable_from_scratch(store: KVStore) -> dict[bytes, int]:
    """Every address's positive claimable amount, summing the margin module's own equity of each
    subaccount (not the anchor's code path)."""
    bank, margin = BankKeeper(store), MarginKeeper(store)
    markets, oracle = MarketsKeeper(store), OracleKeeper(store)
    subaccounts: set[SubaccountId] = {b.subaccount for b in bank.balances()}
    subaccounts |= {p.subaccount for p in margin.all_positions()}
    totals: dict[bytes, int] = {}
    for subaccount in sorted(subaccounts):
        if subaccount.address in MODULE_ADDRESSES:
            continue
        equity = account_risk(subaccount, markets, bank, margin, oracle).equity_micro_usdc
        totals[subaccount.address] = totals.get(subaccount.address, 0) + equity
    return {address: amount for address, amount in sorted(totals.items()) if amount > 0}


def anchor_mismatch(store: KVStore, keccak: Keccak) -> str | None:
    """None when the latest record matches the state it describes; meaningful only on the
    state of the record's height (right after the anchor height, or a node stopped there)."""
    return anchor_differs_from(store, claimable_from_scratch(store), keccak)


def anchor_differs_from(store: KVStore, expected: dict[bytes, int], keccak: Keccak) -> str | None:
    """None when the latest record's leaves are exactly `expected` (the claimable amounts
    recomputed from the state it anchored) and rebuilding the tree gives the record's root."""
    keeper = AnchorKeeper(store)
    record = keeper.latest()
    if record is None:
        return None
    leaves = keeper.leaves()
    stored = {leaf.address: leaf.amount_micro_usdc for leaf in leaves}
    if stored != expected:
        wrong = sorted(set(stored.items()) ^ set(expected.items()))[:3]
        return f"anchor {record.nonce}: stored leaves differ from the state, e.g. {wrong}"
    root = BalanceTree(keccak, leaves).root
    if root != record.balances_root or sum(stored.values()) != record.total_claimable_micro_usdc:
        return f"anchor {record.nonce}: a rebuild gives root {root.hex()}, the record says {record.balances_root.hex()}"
    return None
