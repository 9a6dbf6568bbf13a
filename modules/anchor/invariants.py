"""The checks that must hold after every anchor: the stored leaves are exactly the claimable
amounts recomputed from scratch, rebuilding the tree from them gives the record's root, and their
total is within the chain's claim on the vault."""

from __future__ import annotations

from modules.anchor.claimable import MODULE_ADDRESSES, Equity, Haircut
from modules.anchor.expected_keepers import Keccak
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree
from modules.bank.keeper import BankKeeper
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.queries import solvency
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.store import KVStore
from modules.types import INSURANCE_FUND, SubaccountId


def claimable_from_scratch(store: KVStore) -> dict[bytes, int]:
    """Every address's positive claimable amount, summing the margin module's own equity of each
    subaccount (not the anchor's code path), with the haircut rule over every address."""
    bank, margin = BankKeeper(store), MarginKeeper(store)
    markets, oracle = MarketsKeeper(store), OracleKeeper(store)
    subaccounts: set[SubaccountId] = {b.subaccount for b in bank.balances()}
    subaccounts |= {p.subaccount for p in margin.all_positions()}
    equity: dict[bytes, int] = {}
    collateral: dict[bytes, int] = {}
    fund = -BridgeKeeper(store).shortfall()  # the insurance fund's equity, less unbacked credits
    for subaccount in sorted(subaccounts):
        risk = account_risk(subaccount, markets, bank, margin, oracle).equity_micro_usdc
        address = subaccount.address
        if address == INSURANCE_FUND.address:
            fund += risk
        if address in MODULE_ADDRESSES:
            continue
        equity[address] = equity.get(address, 0) + risk
        collateral[address] = collateral.get(address, 0) + bank.balance(subaccount)
    equities = {address: Equity(equity[address], collateral[address]) for address in sorted(equity)}
    claims = Haircut.of(equities.values(), fund).claims(equities)
    return {address: amount for address, amount in claims.items() if amount > 0}


def chain_claim_micro_usdc(store: KVStore) -> int:
    """What the vault holds for the chain's accounts: the solvency query's chain claim, less any
    deposit the bridge credited without backing (its shortfall)."""
    return int(solvency(store)["chain_claim_micro_usdc"]) - BridgeKeeper(store).shortfall()


def anchor_exceeds(store: KVStore, chain_claim: int) -> str | None:
    """None when the latest record's total is within `chain_claim`, the chain's claim on the vault
    at the record's height: the haircut's promise, and what the vault checks before it takes an
    anchor."""
    record = AnchorKeeper(store).latest()
    if record is None or record.total_claimable_micro_usdc <= chain_claim:
        return None
    return (f"anchor {record.nonce}: total claimable {record.total_claimable_micro_usdc} micro-USDC exceeds the "
            f"chain's claim {chain_claim}")


def anchor_mismatch(store: KVStore, keccak: Keccak) -> str | None:
    """None when the latest record matches the state it describes; meaningful only on the
    state of the record's height (right after the anchor height, or a node stopped there)."""
    return (anchor_differs_from(store, claimable_from_scratch(store), keccak)
            or anchor_exceeds(store, chain_claim_micro_usdc(store)))


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
