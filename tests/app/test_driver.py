"""The in-process chain (app/driver.py) the benchmarks, the simulation and these tests drive."""

from __future__ import annotations

from pathlib import Path

from app.driver import GENESIS_TIME_MS, InProcessChain, priced_genesis
from modules.bank.keeper import BankKeeper
from modules.context import Event
from modules.margin.keeper import MarginKeeper
from modules.margin.types import Position
from modules.store import KVStore
from modules.types import SubaccountId
from tests.app.conftest import CHAIN_ID, TEST_MARKETS
from wire.pb import abci_pb

BTC = 1
PRICE = 65_000_000_000  # micro-USDC: BTC-USD's reference price
USDC = 1_000_000
LOTS = 100  # 0.1 BTC: 6,500 USDC at PRICE, 195 USDC of maintenance margin
COST = LOTS * 65_000_000


def _sub(n: int) -> SubaccountId:
    return SubaccountId(bytes([n]) * 20, 0)


def _pair(store: KVStore, long: SubaccountId, long_usdc: int, short: SubaccountId) -> None:
    """`long` with `long_usdc` of collateral against a well-funded `short`, at PRICE."""
    bank, margin = BankKeeper(store), MarginKeeper(store)
    bank.mint(long, long_usdc * USDC)
    bank.mint(short, 10_000 * USDC)
    margin.set_position(Position(long, BTC, LOTS, COST))
    margin.set_position(Position(short, BTC, -LOTS, -COST))


def _chain(path: Path) -> InProcessChain:
    chain = InProcessChain.start(path, priced_genesis(CHAIN_ID, {"bank": {"balances": []},
                                                                "markets": {"markets": TEST_MARKETS}}))
    chain.block(prices={BTC: PRICE})
    return chain


def _liquidated(events: list[Event]) -> list[str]:
    return [dict(e.attributes)["subaccount"] for e in events if e.type == "liquidation"]


def _liquidated_in(response: abci_pb.ResponseFinalizeBlock) -> list[str]:
    return [{a.key: a.value for a in e.attributes}["subaccount"] for e in response.events if e.type == "liquidation"]


def test_write_state_liquidates_what_it_leaves_under_maintenance(tmp_path: Path) -> None:
    with _chain(tmp_path / "db") as chain:
        events = chain.write_state(lambda store: _pair(store, _sub(1), 100, _sub(2)))  # 100 USDC < 195 maintenance
        assert _liquidated(events) == [str(_sub(1))]
        assert chain.height == 2 and chain.store.last_commit().height == 2
        assert MarginKeeper(chain.store).position(_sub(1), BTC).size_lots == 0


def test_write_state_indexes_a_healthy_position_so_a_later_price_move_liquidates_it(tmp_path: Path) -> None:
    with _chain(tmp_path / "db") as chain:
        assert chain.write_state(lambda store: _pair(store, _sub(1), 400, _sub(2))) == []  # 400 USDC: healthy
        response = chain.block(prices={BTC: PRICE * 95 // 100})  # -325 USDC: 75 left, under maintenance
        assert _liquidated_in(response) == [str(_sub(1))]  # found though no tx of the block touched it


def test_blocks_follow_on_and_a_restart_loses_the_block_not_committed(tmp_path: Path) -> None:
    with _chain(tmp_path / "db") as chain:
        assert (chain.height, chain.time_ms) == (1, GENESIS_TIME_MS + 500)
        chain.block(time_ms=GENESIS_TIME_MS + 10_000)
        chain.finalize([])
        assert (chain.height, chain.time_ms) == (3, GENESIS_TIME_MS + 10_500)
        chain.restart()
        assert (chain.height, chain.time_ms) == (2, GENESIS_TIME_MS + 10_000)
        chain.block()
        assert chain.store.last_commit().height == 3
