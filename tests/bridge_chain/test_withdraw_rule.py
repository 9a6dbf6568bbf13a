"""A withdrawal takes free collateral only: on an in-process Application over LevelDB with the
bridge configured, a subaccount whose open position holds margin cannot withdraw one micro-USDC
above its free collateral (InsufficientFreeCollateral, 402, in CheckTx and in a block, nothing
changed); its free collateral itself leaves and is queued for the vault."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from app.driver import Genesis
from modules.bridge.types import Withdraw
from modules.orderbook.types import TimeInForce
from tests.app.conftest import (
    CHAIN_ID,
    FUNDED_MICRO_USDC,
    TEST_MARKETS,
    VALIDATOR_ADDRESS,
    VALIDATOR_PUB_KEY,
    AppHarness,
    start_chain,
    without_nonces,
)
from tests.app.test_orderbook import PRICE, buy, events, query, sell, signed
from wire import PrivateKey
from wire.crypto import keccak256

VAULT = bytes.fromhex("11" * 20)
ETH_RECIPIENT = bytes.fromhex("22" * 20)
ETH_KEY = PrivateKey(keccak256(b"withdraw rule test bridge key"))


@pytest.fixture
def net(tmp_path: Path) -> Iterator[AppHarness]:
    """Alice, Bob and the validator's operator funded; one bridge validator (the oracle's)."""
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 104)]
    app_state = {
        "bank": {"balances": [{"address": "0x" + k.address.hex(), "subaccount": 0,
                               "amount_micro_usdc": str(FUNDED_MICRO_USDC)} for k in keys]},
        "markets": {"markets": TEST_MARKETS},
        "bridge": {"eth_chain_id": 31337, "vault": "0x" + VAULT.hex(), "validators": [
            {"consensus_address": VALIDATOR_ADDRESS.hex().upper(), "operator": "0x" + keys[2].address.hex(),
             "eth_address": "0x" + ETH_KEY.address.hex(), "power": 10}]},
    }
    h = start_chain(tmp_path / "db", keys, Genesis(CHAIN_ID, app_state, ((VALIDATOR_PUB_KEY, 10),)))
    try:
        yield h
    finally:
        h.close()


def test_a_withdrawal_above_free_collateral_is_refused_and_changes_nothing(net: AppHarness) -> None:
    h = net
    alice, bob, _ = h.keys
    bob_id = "0x" + bob.address.hex()
    opened = h.block([signed(h, alice, sell(PRICE, 1000)),
                      signed(h, bob, buy(PRICE, 1000, time_in_force=TimeInForce.IOC))])  # 0.1 BTC: 6,500 USDC
    assert [r.code for r in opened] == [0, 0]
    balance = h.balance(bob)
    free = int(query(h, f"/positions/{bob_id}/0")["free_collateral_micro_usdc"])
    assert 0 < free < balance  # the position holds the rest as margin

    too_much = signed(h, bob, Withdraw(0, ETH_RECIPIENT, free + 1))
    checked = h.check(too_much)
    assert (checked.code, checked.codespace) == (402, "margin")
    state_before = h.state()
    [refused] = h.block([too_much])
    assert (refused.code, refused.codespace) == (402, "margin")
    assert events(refused, "withdrawal_queued") == []
    assert h.balance(bob) == balance
    # nothing changed but the refused tx's used nonce (docs/transactions.md)
    assert without_nonces(h.state()) == without_nonces(state_before)
    status = query(h, "/bridge/status")
    assert (status["next_withdrawal_id"], status["withdrawn_total_micro_usdc"]) == ("1", "0")

    [taken] = h.block([signed(h, bob, Withdraw(0, ETH_RECIPIENT, free))])
    assert taken.code == 0
    assert events(taken, "withdrawal_queued") == [{
        "withdrawal_id": "1", "owner": bob_id, "subaccount": "0", "recipient": "0x" + ETH_RECIPIENT.hex(),
        "amount_micro_usdc": str(free)}]
    assert h.balance(bob) == balance - free
    assert int(query(h, f"/positions/{bob_id}/0")["free_collateral_micro_usdc"]) == 0
    queued = query(h, "/bridge/withdrawals/1")
    assert (queued["owner"], queued["amount_micro_usdc"]) == (bob_id, str(free))
    assert query(h, "/bridge/status")["withdrawn_total_micro_usdc"] == str(free)
