"""anchor's genesis section and the refusals not reached through a running app: a chain without
anchoring, a bad genesis, a proof for an anchor no longer kept."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.anchor_verify import VERIFIER
from modules.anchor.errors import AnchorAlreadySigned, AnchoringDisabled, AnchorStateUnavailable, InvalidAnchorGenesis
from modules.anchor.genesis import export_genesis, import_genesis, validate_genesis
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import BalanceTree
from modules.anchor.msg_server import CommittedState, anchor_due, anchor_step, handle_sign_anchor, mark_written
from modules.anchor.queries import exit_proof, record_with_signatures
from modules.anchor.types import AnchorParams, SignAnchor
from modules.bank.keeper import BankKeeper
from modules.context import BlockContext
from modules.genesis import validate_app_state
from modules.staking.keeper import StakingKeeper
from modules.types import SubaccountId
from tests.bridge_chain.test_tally import ETH_CHAIN_ID, VAULT, MemoryStore, Net
from wire.anchor import anchor_digest
from wire.crypto import PrivateKey, keccak256

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
    AnchorKeeper(net.store).set_params(AnchorParams(1))
    tree = BalanceTree(keccak256)
    for height, amount in ((1, 5), (2, 6), (3, 7)):
        BankKeeper(net.store).mint(SubaccountId(ALICE, 0), amount)
        mark_written(net.store, height, {ALICE})
        anchor_step(net.store, tree, BlockContext("perpchain-test", height + 1, 0), CommittedState(height, bytes(32), 0),
                    StakingKeeper(net.store))
    assert AnchorKeeper(net.store).latest_nonce() == 3
    assert exit_proof(net.store, keccak256, ALICE)["amount_micro_usdc"] == "18"
    assert exit_proof(net.store, keccak256, ALICE, 2)["amount_micro_usdc"] == "11"
    with pytest.raises(AnchorStateUnavailable):
        exit_proof(net.store, keccak256, ALICE, 1)


def test_a_signature_by_a_rotated_away_key_counts_for_nothing_and_the_validator_signs_again() -> None:
    """A validator signs anchor 1, then rotates its bridge key: the vault would refuse the old
    key's signature (and the whole call with it), so the chain stops counting it, lets the
    validator sign again with its new key, and orders the signatures by the key that made them."""
    net = Net()
    AnchorKeeper(net.store).set_params(AnchorParams(1))
    BankKeeper(net.store).mint(SubaccountId(ALICE, 0), 5)
    mark_written(net.store, 1, {ALICE})
    anchor_step(net.store, BalanceTree(keccak256), BlockContext("perpchain-test", 2, 0), CommittedState(1, bytes(32), 0),
                StakingKeeper(net.store))
    record = AnchorKeeper(net.store).latest()
    assert record is not None

    def sign(index: int, key: PrivateKey) -> None:
        signature = key.sign_digest(anchor_digest(ETH_CHAIN_ID, VAULT, record))
        handle_sign_anchor(AnchorKeeper(net.store), net.bridge, VERIFIER, net.operators[index].address,
                           SignAnchor(1, signature))

    for index in range(3):
        sign(index, net.eth_keys[index])
    assert record_with_signatures(net.store, 1)["ready"]
    rotated = PrivateKey(keccak256(b"rotated key"))
    old = net.bridge.validator(net.consensus[0])
    assert old is not None
    net.bridge.set_validator(replace(old, eth_address=rotated.address))
    answer = record_with_signatures(net.store, 1)
    assert (answer["signed_power"], answer["ready"]) == ("20", False)
    assert [s["power"] for s in answer["signatures"] if s["eth_address"] == "0x" + net.eth_keys[0].address.hex()] == ["0"]
    sign(0, rotated)
    answer = record_with_signatures(net.store, 1)
    assert (answer["signed_power"], answer["ready"]) == ("30", True)
    keys = [s["eth_address"] for s in answer["signatures"]]
    assert keys == sorted(keys) and "0x" + rotated.address.hex() in keys
    with pytest.raises(AnchorAlreadySigned):
        sign(0, rotated)
