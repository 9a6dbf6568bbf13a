"""abci_query paths of docs/queries.md, answered from committed state only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.whatif import MAX_MAKERS
from modules.genesis import validate_app_state
from modules.liquidation.errors import InvalidLiquidationGenesis
from modules.markets.errors import InvalidMarketGenesis
from modules.orderbook.errors import InvalidOrderbookGenesis
from modules.orderbook.types import Order, Side, TimeInForce
from modules.types import SubaccountId
from tests.app.conftest import AppHarness, start_app
from tests.app.test_bad_inputs import transfer_tx
from wire import PrivateKey, sign_tx
from wire.pb import abci_pb


def query(h: AppHarness, path: str, height: int = 0) -> abci_pb.ResponseQuery:
    return h.app.query(abci_pb.RequestQuery(path=path, height=height))


def test_balance_reads_committed_state_not_the_pending_block(harness: AppHarness) -> None:
    alice, bob, _ = harness.keys
    path = f"/bank/balance/0x{bob.address.hex()}/4"
    tx = transfer_tx(harness, alice, amount=9, to=SubaccountId(bob.address, 4))
    harness.finalize([sign_tx(alice, tx)])
    assert json.loads(query(harness, path).value)["amount_micro_usdc"] == "0"
    harness.commit()
    assert json.loads(query(harness, path).value) == {
        "address": "0x" + bob.address.hex(), "subaccount": 4, "amount_micro_usdc": "9",
    }
    balances = json.loads(query(harness, f"/bank/balances/0x{bob.address.hex()}").value)["balances"]
    assert balances == [{"subaccount": 0, "amount_micro_usdc": "1000000000"}, {"subaccount": 4, "amount_micro_usdc": "9"}]
    nonces = json.loads(query(harness, f"/auth/nonces/0x{alice.address.hex()}").value)["recent_nonces"]
    assert nonces == [str(tx.nonce)]


def test_status_reports_the_last_commit(harness: AppHarness) -> None:
    status = json.loads(query(harness, "/app/status").value)
    last = harness.store.last_commit()
    assert status == {"chain_id": "perpchain-test", "height": last.height, "app_hash": last.app_hash.hex(),
                      "block_time_ms": last.block_time_ms}


def test_app_hash_history_answers_each_committed_height(harness: AppHarness) -> None:
    first = harness.store.last_commit()
    harness.block([])
    second = harness.store.last_commit()
    assert second.app_hash != first.app_hash
    for commit in (first, second):
        answer = json.loads(query(harness, f"/app/hash/{commit.height}").value)
        assert answer == {"height": commit.height, "app_hash": commit.app_hash.hex()}


@pytest.mark.parametrize(
    ("path", "height", "code", "log"),
    [
        ("/bank/nothing/x", 0, 20, "no query at"),
        ("/", 0, 20, "no query at"),
        ("/bank/balance/0x1234/0", 0, 21, "address must be"),
        ("/bank/balance/0x" + "ab" * 20 + "/128", 0, 26, "subaccount must be from 0 to 127, got 128"),
        ("/bank/balance/0x" + "ab" * 20, 0, 21, "takes 2 argument"),
        ("/bank/supply", 999, 22, "not served"),
        ("/app/hash/999", 0, 22, "committed no block at height 999"),
        ("/app/hash/x", 0, 24, "height must be written with the ASCII digits"),
        ("/bank/balance/0x" + "ab" * 20 + "//0", 0, 21, "empty segment"),
    ],
)
def test_bad_queries_get_their_code(harness: AppHarness, path: str, height: int, code: int, log: str) -> None:
    response = query(harness, path, height)
    assert (response.code, log in response.log) == (code, True), response.log


def test_a_bug_in_a_query_answers_internal_error_instead_of_closing_the_connection(
    harness: AppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> bytes:
        raise KeyError("a bug")

    monkeypatch.setattr("app.queries.answer", broken)
    response = query(harness, "/bank/supply")
    assert (response.code, response.log) == (1, "internal error")


def test_params_query_shows_the_genesis_params_in_force(tmp_path: Path) -> None:
    h = start_app(tmp_path / "db", [PrivateKey.from_hex(f"{101:064x}")],
                  sections={"orderbook": {"params": {"max_twaps": 3}}, "liquidation": {"params": {}}})
    try:
        answer = json.loads(h.app.query(abci_pb.RequestQuery(path="/params")).value)
        assert answer["orderbook"]["max_twaps"] == 3
        assert answer["orderbook"]["triggers_per_block"] == 128  # a default
        assert answer["orderbook"]["storage_tiers"][0] == {"min_equity_micro_usdc": "20000000", "max_stored": 4}
        assert answer["liquidation"]["liquidations_per_block"] == 1024
        assert answer["liquidation"]["liquidation_evaluations_per_block"] == 2048
    finally:
        h.app.signers.close()
        h.store.close()


def test_a_bad_param_in_genesis_names_the_field() -> None:
    with pytest.raises(InvalidOrderbookGenesis, match="orderbook.params.triggers_per_block"):
        validate_app_state({"orderbook": {"params": {"triggers_per_block": 0}}})
    with pytest.raises(InvalidLiquidationGenesis, match="liquidation.params.liquidations_per_block"):
        validate_app_state({"liquidation": {"params": {"liquidations_per_block": "0"}}})
    band = {"market_id": 1, "ticker": "BTC-USD", "size_decimals": 4, "tick_size": "100000", "step_size": "10",
            "min_order_size": "10", "initial_margin_ppm": 50_000, "maintenance_margin_ppm": 30_000,
            "max_open_interest": "1000000", "maker_fee_ppm": 100, "taker_fee_ppm": 500,
            "reference_price": "65000000000", "price_band_ppm": 999}
    with pytest.raises(InvalidMarketGenesis, match=r"markets.markets\[0\].price_band_ppm"):
        validate_app_state({"markets": {"markets": [band]}})
    with pytest.raises(InvalidOrderbookGenesis, match="unknown field 'max_orders'"):
        validate_app_state({"orderbook": {"params": {"max_orders": 1}}})


def test_a_what_if_path_of_the_wrong_shape_gets_code_23(harness: AppHarness) -> None:
    response = harness.app.query(abci_pb.RequestQuery(path="/whatif/0x00/0/1/up/1/1/gtc"))
    assert (response.code, response.log.split(":")[0]) == (23, "BadWhatIf")


def test_a_what_if_that_would_meet_more_than_its_ceiling_of_resting_orders_gets_code_27(harness: AppHarness) -> None:
    maker = SubaccountId(b"\x07" * 20, 0)
    book = harness.app.books[1]
    for order_id in range(1, MAX_MAKERS + 2):  # one level deeper than a what-if may walk
        book.rest(Order(10**6 + order_id, 1, maker, 0, Side.SELL, 650_000, 1, True, False, TimeInForce.GTC, 0, 0))
    taker = f"0x{harness.keys[0].address.hex()}"
    path = f"/whatif/{taker}/0/1/buy/65000000000/{(MAX_MAKERS + 1) * 10}/ioc"  # a lot is 10 atoms
    too_many = harness.app.query(abci_pb.RequestQuery(path=path))
    assert (too_many.code, too_many.log.split(":")[0]) == (27, "WhatIfTooLarge")
    assert book.makers_to_fill(Side.BUY, 650_000, MAX_MAKERS) == MAX_MAKERS + 1  # whole levels are counted
    assert book.makers_to_fill(Side.BUY, 649_999, MAX_MAKERS) == 0  # a limit below the level meets nobody
    assert len(book) == MAX_MAKERS + 1
