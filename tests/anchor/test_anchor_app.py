"""Anchors on an in-process Application over LevelDB: every `interval` blocks the record commits
to the state the block started from; its leaves equal a from-scratch recomputation; validators'
signatures are checked and tallied; proofs verify; a restarted node anchors the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from app.driver import Genesis
from modules.anchor.invariants import anchor_mismatch, claimable_from_scratch
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.merkle import verify
from modules.anchor.types import AnchorRecord, SignAnchor
from modules.bank.types import Transfer
from modules.orderbook.types import TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import (
    CHAIN_ID,
    FUNDED_MICRO_USDC,
    TEST_MARKETS,
    VALIDATOR_ADDRESS,
    VALIDATOR_PUB_KEY,
    AppHarness,
    start_chain,
)
from tests.app.test_orderbook import PRICE, USDC, buy, sell, signed
from wire import PrivateKey
from wire.anchor import anchor_digest
from wire.crypto import keccak256
from wire.pb import abci_pb

INTERVAL = 4
VAULT = bytes.fromhex("11" * 20)
ETH_CHAIN_ID = 31337
BTC = 1
ETH_KEY = PrivateKey(keccak256(b"anchor test bridge key"))


def _app_state(keys: list[PrivateKey], operator: PrivateKey) -> dict[str, Any]:
    return {
        "bank": {"balances": [{"address": "0x" + k.address.hex(), "subaccount": 0,
                               "amount_micro_usdc": str(FUNDED_MICRO_USDC)} for k in keys]},
        "markets": {"markets": TEST_MARKETS},
        "bridge": {"eth_chain_id": ETH_CHAIN_ID, "vault": "0x" + VAULT.hex(), "validators": [
            {"consensus_address": VALIDATOR_ADDRESS.hex().upper(), "operator": "0x" + operator.address.hex(),
             "eth_address": "0x" + ETH_KEY.address.hex(), "power": 10}]},
        "anchor": {"interval_blocks": INTERVAL},
    }


@pytest.fixture
def net(tmp_path: Path) -> Iterator[AppHarness]:
    h = _start(tmp_path / "db")
    yield h
    h.close()


def _query(h: AppHarness, path: str) -> tuple[int, Any]:
    response = h.app.query(abci_pb.RequestQuery(path=path))
    return response.code, json.loads(response.value) if response.code == 0 else response.log


def _until_anchor(h: AppHarness) -> abci_pb.ResponseFinalizeBlock:
    """Empty blocks up to and including the next anchor block: nothing but the anchor changes,
    so the committed state is still the anchored one."""
    while True:
        response = h.finalize([])
        h.commit()
        if any(e.type == "anchor" for e in response.events):
            return response


def _anchor_event(response: abci_pb.ResponseFinalizeBlock) -> dict[str, str]:
    [event] = [{a.key: a.value for a in e.attributes} for e in response.events if e.type == "anchor"]
    return event


def _latest(h: AppHarness) -> AnchorRecord:
    record = AnchorKeeper(h.store).latest()
    assert record is not None
    return record


def test_anchor_commits_to_claimable_equity_at_the_oracle_price(net: AppHarness) -> None:
    """Bob buys 0.2 BTC at 65,000 from Alice (taker fee 6.5 USDC); the oracle then says 66,000:
    Bob's claimable is 993.5 + 0.2 x 1,000 = 1,193.5 USDC; Alice's is her collateral - 200."""
    h = net
    alice, bob, carol, operator = h.keys
    results = h.block([signed(h, alice, sell(PRICE, 2000)),
                       signed(h, bob, buy(PRICE, 2000, time_in_force=TimeInForce.IOC))], prices={BTC: PRICE})
    assert [r.code for r in results[1:]] == [0, 0]
    h.block([], prices={BTC: 66_000 * USDC})
    response = _until_anchor(h)
    record = _latest(h)
    event = _anchor_event(response)
    assert record.height == h.height - 1 and record.height % INTERVAL == 0
    assert event["balances_root"] == "0x" + record.balances_root.hex()
    leaves = {leaf.address: leaf.amount_micro_usdc for leaf in AnchorKeeper(h.store).leaves()}
    assert leaves[bob.address] == 1_193_500_000
    assert leaves[carol.address] == FUNDED_MICRO_USDC and leaves[operator.address] == FUNDED_MICRO_USDC
    assert leaves[alice.address] == h.balance(alice) - 200 * USDC  # short 0.2 BTC, 1,000 against her
    assert record.total_claimable_micro_usdc == sum(leaves.values())
    assert (record.deposit_nonce, record.withdrawal_id, record.chain_id) == (0, 0, CHAIN_ID)
    assert anchor_mismatch(h.store, keccak256) is None
    assert leaves == claimable_from_scratch(h.store)


def test_record_carries_the_app_hash_of_the_height_it_describes(net: AppHarness) -> None:
    h = net
    hashes = {}
    for _ in range(INTERVAL * 2):
        response = h.finalize([])
        hashes[h.height] = response.app_hash
        h.commit()
        if any(e.type == "anchor" for e in response.events):
            break
    record = _latest(h)
    assert record.app_hash == hashes[record.height]


def test_signatures_are_checked_tallied_and_reported_ready(net: AppHarness) -> None:
    h = net
    alice, _, _, operator = h.keys
    _until_anchor(h)
    record = _latest(h)

    def sign(who: PrivateKey, nonce: int = record.nonce, key: PrivateKey = ETH_KEY) -> bytes:
        return signed(h, who, SignAnchor(nonce, key.sign_digest(anchor_digest(ETH_CHAIN_ID, VAULT, record))))

    results = h.block([sign(alice), sign(operator, key=alice), sign(operator, nonce=record.nonce + 5),
                       sign(operator), sign(operator)])
    assert [r.code for r in results] == [702, 705, 703, 0, 706]  # not an operator, wrong key, unknown, ok, twice
    assert [e.type for e in results[3].events] == ["anchor_signed", "anchor_ready"]
    code, status = _query(h, "/anchor/status")
    assert code == 0 and status["latest"]["ready"] and len(status["latest"]["vault_signatures"]) == 1
    _until_anchor(h)
    assert h.block([sign(operator)])[0].code == 704  # superseded by the next anchor


def test_proofs_from_the_live_tree_and_from_the_undo_journal_verify(net: AppHarness) -> None:
    h = net
    alice, bob, carol, _ = h.keys
    _until_anchor(h)
    first = _latest(h)
    h.block([signed(h, alice, Transfer(0, SubaccountId(bob.address, 0), 250 * USDC))])
    _until_anchor(h)
    second = _latest(h)
    assert second.nonce == first.nonce + 1 and second.balances_root != first.balances_root
    code, proof = _query(h, f"/anchor/proof/0x{alice.address.hex()}")
    assert code == 0 and int(proof["amount_micro_usdc"]) == FUNDED_MICRO_USDC - 250 * USDC
    assert verify(keccak256, second.balances_root, alice.address, int(proof["amount_micro_usdc"]),
                  [bytes.fromhex(p[2:]) for p in proof["proof"]])
    code, old = _query(h, f"/anchor/proof/0x{alice.address.hex()}/{first.nonce}")
    assert code == 0 and int(old["amount_micro_usdc"]) == FUNDED_MICRO_USDC
    assert verify(keccak256, first.balances_root, alice.address, FUNDED_MICRO_USDC,
                  [bytes.fromhex(p[2:]) for p in old["proof"]])
    assert _query(h, "/anchor/proof/0x" + "77" * 20)[0] == 708
    assert _query(h, "/anchor/proof/nothex")[0] == 707
    assert _query(h, f"/anchor/records/{second.nonce + 1}")[0] == 703


def _start(path: Path) -> AppHarness:
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103, 104)]  # the last operates the validator
    return start_chain(path, keys, Genesis(CHAIN_ID, _app_state(keys, keys[3]), ((VALIDATOR_PUB_KEY, 10),),
                                           vote_extensions_from=1))


def test_a_restarted_node_computes_the_same_anchors_and_app_hashes(tmp_path: Path) -> None:
    """The restarted node has lost its list of addresses written since the last anchor and
    re-reads everyone; its anchors and app hashes must equal those of a node that kept running."""
    kept, restarted = _start(tmp_path / "kept"), _start(tmp_path / "restarted")
    alice, bob, carol, _ = kept.keys
    plan: list[tuple[list[bytes], dict[int, int] | None]] = [
        ([], None), ([], None), ([], None),
        ([signed(kept, alice, sell(PRICE, 1000))], {BTC: PRICE}),
        ([signed(kept, bob, buy(PRICE, 1000, time_in_force=TimeInForce.IOC))], {BTC: PRICE}),
        ([signed(kept, bob, Transfer(0, SubaccountId(alice.address, 1), 5 * USDC))], {BTC: 64_000 * USDC}),
        ([signed(kept, carol, Transfer(0, SubaccountId(bob.address, 2), carol_all := FUNDED_MICRO_USDC))], None),
    ] + [([], {BTC: 63_000 * USDC})] * (2 * INTERVAL)
    hashes: dict[str, list[bytes]] = {"kept": [], "restarted": []}
    for step, (txs, prices) in enumerate(plan):
        if step == 6:
            restarted.chain.restart()
        for name, h in (("kept", kept), ("restarted", restarted)):
            assert all(r.code == 0 for r in h.block(txs, prices=prices))
            hashes[name].append(h.store.last_commit().app_hash)
    assert hashes["kept"] == hashes["restarted"]
    kept_record, restarted_record = _latest(kept), _latest(restarted)
    assert kept_record == restarted_record and kept_record.nonce >= 3
    leaves = {leaf.address: leaf.amount_micro_usdc for leaf in AnchorKeeper(kept.store).leaves()}
    assert carol.address not in leaves and leaves[bob.address] > carol_all  # carol emptied, her leaf gone
    for h in (kept, restarted):
        h.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.sampled_from([0, 1, 2, 5])),
                min_size=1, max_size=12))
def test_every_anchor_equals_a_recomputation_whatever_moves_between_them(tmp_path_factory: pytest.TempPathFactory,
                                                                        moves: list[tuple[int, int, int, int]]) -> None:
    """Random transfers between four accounts' subaccounts 0..3 (emptying some, creating others),
    an anchor after every few: the stored leaves always equal the claimable amounts recomputed
    from the state, and the record's root their rebuild."""
    h = _start(tmp_path_factory.mktemp("moves") / "db")
    try:
        for index, (sender, number, receiver, hundreds) in enumerate(moves):
            key = h.keys[sender]
            available = h.balance(key, number)
            amount = available if hundreds == 0 else min(available, hundreds * 100 * USDC)
            if amount > 0 and (sender, number) != (receiver, number):
                result = h.block([signed(h, key, Transfer(number, SubaccountId(h.keys[receiver].address, number),
                                                          amount))])
                assert result[0].code == 0
            if index % 3 == 2:
                _until_anchor(h)
                assert anchor_mismatch(h.store, keccak256) is None
        _until_anchor(h)
        assert anchor_mismatch(h.store, keccak256) is None
    finally:
        h.close()
