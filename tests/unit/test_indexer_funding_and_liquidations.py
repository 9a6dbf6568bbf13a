"""The indexer's funding payments, liquidations and deleveraging, on blocks the real Application
finalizes in process (the recorded blocks of test_indexer_ingest.py hold none of them).

Bob goes long 0.2 BTC from Alice at 65,000; Carol rests a bid 1% over the oracle, so each hour's
rate is positive, and funds the insurance fund with 500 USDC. An hour passes (a funding tick with
Bob and Alice positioned); the oracle then gaps to 59,000: Bob is liquidated, a chunk into Carol's
bid, then the fund takes what it can carry and the rest is deleveraged against Alice. Carol rests a
new premium and two more hours pass (ticks with Carol, Alice and the fund positioned, held over
both at an oracle price whose index moves are no whole number of micro-USDC per position).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Sequence

import pytest
from google.protobuf.json_format import MessageToDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from client.blocks import BlockRecord, PlacedEvent, from_finalize_block
from indexer import models
from indexer.db import open_engine, sqlite_url, upgrade
from indexer.ingest import Ingestor, MarketUnits, units_by_market
from modules.bank.types import Transfer
from modules.funding.params import HOUR_MS
from modules.margin.keeper import MarginKeeper
from modules.orderbook.actions import CancelAll
from modules.orderbook.types import TimeInForce
from modules.types import INSURANCE_FUND, SubaccountId
from tests.app.conftest import AppHarness, oracle_tx_with, start_app
from tests.app.test_orderbook import PRICE, USDC, buy, sell, signed
from wire import PrivateKey

BTC = 1
# 59,000.1 USDC: an hour's move of the index is no whole number of micro-USDC for most positions,
# so a position held over two ticks settles one rounding, not one each hour
ODD_PRICE = 59_000_100_000
LIQUIDATION_KINDS = ("liquidation", "liquidation_fill", "insurance_fund_takeover", "deleveraging")


def finalized(h: AppHarness, txs: Sequence[bytes], advance_ms: int = 0,
              prices: dict[int, int] | None = None) -> BlockRecord:
    """The next block, finalized and committed, as the indexer reads it from a node."""
    if prices is not None:
        txs = [oracle_tx_with(prices), *txs]
    response = MessageToDict(h.finalize(txs, advance_ms), preserving_proto_field_name=True)
    h.commit()
    return from_finalize_block(h.height, f"{h.height:064X}", h.time_ms, response)


def unsettled_funding(h: AppHarness) -> dict[tuple[str, int], int]:
    """Each position's funding not yet settled into its cost, as the chain's positions query says."""
    owners = [SubaccountId(k.address, 0) for k in h.keys] + [INSURANCE_FUND]
    unsettled = {}
    for owner in owners:
        answer = h.chain.query(f"/positions/0x{owner.address.hex()}/{owner.number}")
        assert answer.code == 0, answer.log
        for held in json.loads(answer.value)["positions"]:
            unsettled[(str(owner), held["market_id"])] = int(held["unsettled_funding_micro_usdc"])
    return unsettled


class Run:
    """The scenario's blocks, and what the chain said each funding tick charged each position."""

    def __init__(self) -> None:
        self.blocks: list[BlockRecord] = []
        self.charged: dict[int, dict[tuple[str, int], int]] = {}  # height of the tick -> payments (> 0 paid)
        self.units: dict[int, MarketUnits] = {}
        self.positions: dict[tuple[str, int], int] = {}  # the chain's at the end, in base atoms

    def tick(self, h: AppHarness) -> None:
        """An empty block an hour on: its funding tick is all that moves positions' unsettled funding."""
        before = unsettled_funding(h)
        self.blocks.append(finalized(h, [], advance_ms=HOUR_MS))
        assert any(e.type == "funding_rate" for e in self.blocks[-1].events)
        after = unsettled_funding(h)
        self.charged[h.height] = {key: paid - before.get(key, 0) for key, paid in after.items()}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    keys = [PrivateKey.from_hex(f"{i:064x}") for i in (101, 102, 103)]
    alice, bob, carol = keys
    h = start_app(tmp_path_factory.mktemp("chain") / "db", keys, oracle=True)
    scenario = Run()
    try:
        add = scenario.blocks.append
        add(finalized(h, [signed(h, alice, sell(PRICE, 2000)),
                          signed(h, bob, buy(PRICE, 2000, time_in_force=TimeInForce.IOC))], prices={BTC: PRICE}))
        add(finalized(h, [signed(h, carol, Transfer(0, INSURANCE_FUND, 500 * USDC),
                                 buy(PRICE + 650 * USDC, 230), sell(PRICE + 700 * USDC, 200))], prices={BTC: PRICE}))
        scenario.tick(h)
        add(finalized(h, [], prices={BTC: 59_000 * USDC}))
        add(finalized(h, [signed(h, carol, CancelAll(0), buy(59_600 * USDC, 200), sell(59_700 * USDC, 200))],
                      prices={BTC: ODD_PRICE}))
        scenario.tick(h)
        scenario.tick(h)
        markets = json.loads(h.chain.query("/markets").value)["markets"]
        scenario.units = units_by_market(markets)
        margin = MarginKeeper(h.store)
        for owner in [SubaccountId(k.address, 0) for k in keys] + [INSURANCE_FUND]:
            for position in margin.positions(owner):
                scenario.positions[(str(owner), position.market_id)] = \
                    position.size_lots * scenario.units[position.market_id].step_size
        yield scenario
    finally:
        h.close()


@pytest.fixture
def ingested(run: Run, tmp_path: Path) -> Iterator[Session]:
    engine = open_engine(sqlite_url(tmp_path / "indexer.db"))
    upgrade(engine)
    ingestor = Ingestor(engine, lambda: run.units)
    for block in run.blocks:
        assert ingestor.store(block)
    with Session(engine) as session:
        yield session


def _events(run: Run, kinds: Sequence[str]) -> list[tuple[BlockRecord, int, PlacedEvent]]:
    return [(block, index, e) for block in run.blocks for index, e in enumerate(block.events) if e.type in kinds]


def test_the_scenario_has_funding_ticks_liquidation_steps_of_every_kind_and_a_fill_of_each(run: Run) -> None:
    kinds = [e.type for _, _, e in _events(run, ("funding_rate", *LIQUIDATION_KINDS))]
    for kind in ("funding_rate", *LIQUIDATION_KINDS):
        assert kind in kinds, kind
    assert all(paid for charged in run.charged.values() for paid in charged.values())  # a nonzero rate each hour


def test_funding_payments_equal_what_the_chain_charged_each_position_at_each_tick(run: Run,
                                                                                 ingested: Session) -> None:
    stored: dict[int, dict[tuple[str, int], int]] = {}
    for payment in ingested.scalars(select(models.FundingPayment)):
        stored.setdefault(payment.height, {})[(payment.subaccount, payment.market_id)] = payment.payment_micro_usdc
    assert stored == run.charged
    holders = {height: set(charged) for height, charged in run.charged.items()}
    assert (str(INSURANCE_FUND), BTC) in holders[max(holders)]  # the fund took a position by the second tick


def test_each_liquidation_step_is_a_row_as_its_event_says(run: Run, ingested: Session) -> None:
    def value(a: dict[str, str], *keys: str) -> int | None:
        return next((int(a[k]) for k in keys if k in a), None)

    expected = sorted(
        (block.height, e.tx_index, index, e.type, e.attributes["subaccount"], value(e.attributes, "market_id"),
         e.attributes.get("counterparty"), value(e.attributes, "size"), value(e.attributes, "price", "bankruptcy_price"),
         value(e.attributes, "fee_micro_usdc"), value(e.attributes, "equity_micro_usdc"),
         value(e.attributes, "maintenance_micro_usdc"))
        for block, index, e in _events(run, LIQUIDATION_KINDS))
    stored = sorted((r.height, r.tx_index, r.event_index, r.kind, r.subaccount, r.market_id, r.counterparty, r.size,
                     r.price, r.fee_micro_usdc, r.equity_micro_usdc, r.maintenance_micro_usdc)
                    for r in ingested.scalars(select(models.Liquidation)))
    assert stored == expected


def test_positions_after_liquidation_and_deleveraging_are_the_chains(run: Run, ingested: Session) -> None:
    stored = {(p.subaccount, p.market_id): p.size for p in ingested.scalars(select(models.Position)) if p.size}
    assert stored == run.positions



def test_a_restarted_indexer_measures_the_next_tick_from_the_stored_index(run: Run, tmp_path: Path) -> None:
    """A new Ingestor after the first tick reads the market's last index (and the positions) back
    from the database: the second tick's payments are the same as in one pass."""
    engine = open_engine(sqlite_url(tmp_path / "resumed.db"))
    upgrade(engine)
    first_tick = min(run.charged)
    for part in ([b for b in run.blocks if b.height <= first_tick], [b for b in run.blocks if b.height > first_tick]):
        ingestor = Ingestor(engine, lambda: run.units)
        for block in part:
            assert ingestor.store(block)
    with Session(engine) as session:
        stored = {(p.height, p.subaccount, p.market_id): p.payment_micro_usdc
                  for p in session.scalars(select(models.FundingPayment))}
    assert stored == {(height, *key): paid for height, charged in run.charged.items() for key, paid in charged.items()}
