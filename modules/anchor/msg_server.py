"""anchor's block step and its one action.

The step runs first in the block after every anchor height (a multiple of `interval_blocks`),
before the block changes anything, so the record's root, total and counters describe exactly
the committed state whose app hash it carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from modules.anchor.claimable import ClaimableReader, Haircut
from modules.anchor.errors import (
    AnchorAlreadySigned,
    AnchoringDisabled,
    AnchorSuperseded,
    BadAnchorSignature,
    NotAnchorValidator,
    UnknownAnchor,
)
from modules.anchor.expected_keepers import AnchorSignatureVerifier, BondDebits, Keccak
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree
from modules.anchor.types import AnchorRecord, SignAnchor, bond_debits_hash
from modules.bridge.keeper import BridgeKeeper, supermajority
from modules.context import BlockContext, Event
from modules.store import KVStore


@dataclass(frozen=True)
class CommittedState:
    """The state the block starts from: its height, app hash and block time."""

    height: int
    app_hash: bytes
    time_ms: int


def anchor_due(store: KVStore, state: CommittedState) -> bool:
    params = AnchorKeeper(store).params()
    return (params is not None and BridgeKeeper(store).params() is not None and state.height > 0
            and state.height % params.interval_blocks == 0)


def mark_written(store: KVStore, height: int, addresses: set[bytes]) -> None:
    """The block's last step: remember the addresses whose balance or position it wrote, for the
    next anchor (kept in state, so a restarted node knows them too)."""
    if addresses and AnchorKeeper(store).params() is not None:
        AnchorKeeper(store).mark_changed(height, addresses)


class LatestTree:
    """The balances tree of the latest anchor, kept in memory (built from the stored leaves at
    start) for the next anchor step and for exit proofs. The step changes it in place before
    Commit, so a second FinalizeBlock of the same height first rebuilds it from the committed
    leaves."""

    def __init__(self, keccak: Keccak, committed: KVStore) -> None:
        self.keccak = keccak
        self._committed = committed
        self.tree = self._load()
        self._uncommitted = False  # the tree holds a finalized block's anchor not yet committed

    def _load(self) -> BalanceTree:
        return BalanceTree(self.keccak, AnchorKeeper(self._committed).leaves())

    def begin_block(self, store: KVStore, ctx: BlockContext, state: CommittedState, staking: BondDebits) -> list[Event]:
        """The block's first step: after an anchor height, commit to the state it left."""
        if self._uncommitted:
            self.tree = self._load()
            self._uncommitted = False
        if not anchor_due(store, state):
            return []
        self._uncommitted = True
        return anchor_step(store, self.tree, ctx, state, staking)

    def committed(self) -> None:
        self._uncommitted = False


def anchor_step(store: KVStore, tree: BalanceTree, ctx: BlockContext, state: CommittedState,
                staking: BondDebits) -> list[Event]:
    """Recompute the claim of every address that may have changed since the last anchor (those
    written since, and every position holder: prices and funding move their equity), update the
    tree and store the record. When the gains cannot absorb the shortfall (claimable.py), every
    claim is scaled, so every address with collateral is recomputed then, and at the next anchor,
    to undo it. The record also carries staking's bond debits (stored by their hash), so the vault
    lowers each key's bond by what left it on the chain.
    Callers check `anchor_due` first; `tree` must equal the stored leaves."""
    keeper, bridge, reader = AnchorKeeper(store), BridgeKeeper(store), ClaimableReader(store)
    holders = reader.position_holders()
    holder_equities = reader.equities(sorted(holders), holders)
    haircut = Haircut.of(holder_equities.values(), reader.cover_micro_usdc())
    previous = keeper.latest()
    candidates = keeper.take_changed() - holders
    if haircut.scales_every_claim or (previous is not None and previous.scales_every_claim):
        # Every claim changes, and one scaled to 0 left the tree: recompute every address that
        # holds collateral, not only the leaves.
        candidates |= ({leaf.address for leaf in tree.leaves()} | reader.addresses_with_balances()) - holders
    equities = {**reader.equities(sorted(candidates), holders), **holder_equities}
    count_before = len(tree)
    changes = tree.apply(haircut.claims(equities))  # the tree orders its own changes
    nonce = keeper.latest_nonce() + 1
    keeper.write_leaf_changes(nonce, changes, count_before, len(tree))
    debits = staking.bond_debits()
    debits_hash = bond_debits_hash(tree.keccak, debits)
    keeper.set_bond_debits(debits_hash, debits)
    record = AnchorRecord(
        nonce=nonce, chain_id=ctx.chain_id, height=state.height, app_hash=state.app_hash,
        balances_root=tree.root, total_claimable_micro_usdc=tree.total_micro_usdc,
        deposit_nonce=bridge.next_deposit_nonce() - 1, withdrawal_id=bridge.next_withdrawal_id() - 1,
        withdrawn_total_micro_usdc=bridge.withdrawn_total(), bond_debits_hash=debits_hash, leaf_count=len(tree),
        time_ms=state.time_ms,
        shortfall_micro_usdc=haircut.shortfall_micro_usdc, gains_micro_usdc=haircut.gains_micro_usdc)
    keeper.add_record(record)
    return [Event("anchor", (
        ("nonce", str(record.nonce)), ("height", str(record.height)), ("app_hash", record.app_hash.hex()),
        ("balances_root", "0x" + record.balances_root.hex()),
        ("total_claimable_micro_usdc", str(record.total_claimable_micro_usdc)),
        ("deposit_nonce", str(record.deposit_nonce)), ("withdrawal_id", str(record.withdrawal_id)),
        ("withdrawn_total_micro_usdc", str(record.withdrawn_total_micro_usdc)),
        ("bond_debits_hash", "0x" + record.bond_debits_hash.hex()), ("bond_debits", str(len(debits))),
        ("leaf_count", str(record.leaf_count)), ("changed_leaves", str(len(changes))),
        ("shortfall_micro_usdc", str(record.shortfall_micro_usdc)),
        ("gains_micro_usdc", str(record.gains_micro_usdc))))]


def handle_sign_anchor(keeper: AnchorKeeper, bridge: BridgeKeeper, verifier: AnchorSignatureVerifier, signer: bytes,
                       action: SignAnchor) -> list[Event]:
    bridge_params = bridge.params()
    if keeper.params() is None or bridge_params is None:
        raise AnchoringDisabled("this chain's genesis configured no anchoring")
    validator = bridge.validator_of_operator(signer)
    if validator is None:
        raise NotAnchorValidator(f"0x{signer.hex()} operates no validator; only validator operators sign anchors")
    record = keeper.record(action.anchor_nonce)
    latest = keeper.latest_nonce()
    if record is None:
        raise UnknownAnchor(f"no anchor {action.anchor_nonce}; the latest is {latest}")
    if action.anchor_nonce < latest:
        raise AnchorSuperseded(f"anchor {action.anchor_nonce} is superseded by {latest}; sign that one")
    if keeper.signer(action.anchor_nonce, validator.consensus_address) == validator.eth_address:
        raise AnchorAlreadySigned(f"validator {validator.consensus_address.hex().upper()} signed anchor "
                                  f"{action.anchor_nonce} before")
    recovered = verifier.anchor_signer(bridge_params.eth_chain_id, bridge_params.vault, record, action.signature)
    if recovered != validator.eth_address:
        shown = f"0x{recovered.hex()}" if recovered else "nothing"
        raise BadAnchorSignature(f"the signature recovers to {shown}, not the validator's bridge key "
                                 f"0x{validator.eth_address.hex()}")
    total = bridge.total_power()
    before = signed_power(keeper, bridge, action.anchor_nonce)
    keeper.add_signature(action.anchor_nonce, validator.consensus_address, recovered, action.signature)
    after = before + validator.power
    events = [Event("anchor_signed", (
        ("nonce", str(action.anchor_nonce)), ("validator", validator.consensus_address.hex().upper()),
        ("signed_power", str(after)), ("total_power", str(total))))]
    if supermajority(after, total) and not supermajority(before, total):
        events.append(Event("anchor_ready", (("nonce", str(action.anchor_nonce)),)))
    return events


def counted_power(bridge: BridgeKeeper, consensus_address: bytes, eth_address: bytes) -> int:
    """A recorded signature counts the validator's power only if its current bridge key made it:
    one by a key rotated away counts for nothing (the vault would refuse it), and the validator
    signs again with its new key."""
    validator = bridge.validator(consensus_address)
    return validator.power if validator is not None and validator.eth_address == eth_address else 0


def signed_power(keeper: AnchorKeeper, bridge: BridgeKeeper, nonce: int) -> int:
    return sum(counted_power(bridge, consensus_address, eth_address)
               for consensus_address, eth_address, _ in keeper.signatures(nonce))
