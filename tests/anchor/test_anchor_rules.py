"""anchor's genesis section and the refusals not reached through a running app: a chain without
anchoring, a bad genesis, a proof for an anchor no longer kept."""

from __future__ import annotations

import pytest

from app.anchor_verify import VERIFIER
from modules.anchor.errors import AnchoringDisabled, AnchorStateUnavailable, InvalidAnchorGenesis
from modules.anchor.genesis import export_genesis, import_genesis, validate_genesis
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree
from modules.anchor.msg_server import CommittedState, anchor_due, anchor_step, handle_sign_anchor, mark_written
from modules.anchor.queries import exit_proof
from modules.anchor.types import SignAnchor
from modules.bank.keeper import BankKeeper
from modules.context import BlockContext
from modules.genesis import validate_app_state
from modules.types import SubaccountId
from tests.bridge_chain.test_tally import MemoryStore, Net
from wire.crypto import keccak256

ALICE = bytes.fromhex("aa" * 20)


def test_genesis_round_trips_and_refuses_bad_sections() -> None:
    store = MemoryStore()
    import_genesis(AnchorKeeper(store), {"interval_blocks": 7})
    assert export_genesis(AnchorKeeper(store)) == {"interval_blocks": 7}
    assert validate_genesis({}) is None and export_genesis(AnchorKeeper(MemoryStore())) == {}
    for bad in ({"interval_blocks": 0}, {"interval_blocks": True}, {"interval_blocks": 5, "extra": 1}, [5]):
        with pytest.raises(InvalidAnchorGenesis):
            validate_genesis(bad)
    with pytest.raises(InvalidAnchorGenesis, match="needs a bridge section"):
        validate_app_state({"anchor": {"interval_blocks": 5}})


def test_sign_anchor_on_a_chain_without_anchoring_is_refused() -> None:
    net = Net()  # a bridge, no anchor section
    with pytest.raises(AnchoringDisabled):
        handle_sign_anchor(AnchorKeeper(net.store), net.bridge, VERIFIER, net.operators[0].address,
                           SignAnchor(1, bytes(65)))
    assert not anchor_due(net.store, CommittedState(10, bytes(32), 0))


def test_only_the_latest_anchor_and_the_one_before_can_be_proven() -> None:
    net = Net()
    AnchorKeeper(net.store).set_params(validate_genesis({"interval_blocks": 1}))  # type: ignore[arg-type]
    tree = BalanceTree(keccak256)
    for height, amount in ((1, 5), (2, 6), (3, 7)):
        BankKeeper(net.store).mint(SubaccountId(ALICE, 0), amount)
        mark_written(net.store, height, {ALICE})
        anchor_step(net.store, tree, BlockContext("perpchain-test", height + 1, 0), CommittedState(height, bytes(32), 0))
    assert AnchorKeeper(net.store).latest_nonce() == 3
    assert exit_proof(net.store, keccak256, ALICE)["amount_micro_usdc"] == "18"
    assert exit_proof(net.store, keccak256, ALICE, 2)["amount_micro_usdc"] == "11"
    with pytest.raises(AnchorStateUnavailable):
        exit_proof(net.store, keccak256, ALICE, 1)
