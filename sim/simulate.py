"""`perpchain simulate`: replay a price path against a set of accounts on an in-process chain and
report, per step, liquidations, insurance-fund balance and auto-deleveraging — a tool to set
margin parameters before a market lists.

Accounts (JSON): [{"collateral_usdc": "1000", "positions": [{"market": "BTC-USD", "size": "0.1"}]}]
with signed sizes in base units; a "house" subaccount takes the other side of every position at
the first step's prices (it is deleveraged like anyone). Prices (JSON): a list of steps, each
{"BTC-USD": "64000.5", ...}; a market missing from a step keeps its price. Or generated: a
seeded random walk of N steps with a per-step volatility in basis points.

The chain is the real Application over a temporary LevelDB with the localnet markets (driven
through app/driver.py); the accounts are written as one block at the first step's prices, and each
step is one block whose oracle tx carries that step's prices (the per-block clamp applies). An
account that starts under maintenance is liquidated as it is written; that counts in step 1.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from app.driver import InProcessChain, priced_genesis
from genesis.app_state import build_app_state
from genesis.markets import LOCALNET_MARKETS
from modules.bank.keeper import BankKeeper
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.margin.types import Position
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.store import KVStore
from modules.types import INSURANCE_FUND, SubaccountId
from wire.amounts import parse_decimal

HOUSE = SubaccountId(hashlib.sha256(b"simulation house").digest()[:20], 0)


def random_walk(steps: int, volatility_bps: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    prices = {m["ticker"]: int(m["reference_price"]) for m in LOCALNET_MARKETS}
    path = []
    for _ in range(steps):
        for ticker in prices:
            move = rng.randint(-volatility_bps, volatility_bps)
            prices[ticker] = max(1, prices[ticker] * (10_000 + move) // 10_000)
        path.append({t: f"{p // 1_000_000}.{p % 1_000_000:06d}" for t, p in prices.items()})
    return path


def _accounts(accounts: list[dict[str, Any]], start: dict[int, int],
              insurance_usdc: int) -> tuple[list[SubaccountId], Callable[[KVStore], None]]:
    """The accounts' owners, and what writes their collateral and positions (the house taking the
    other side of each at the `start` prices), the house's collateral and the insurance fund's."""
    markets = {m["ticker"]: m for m in LOCALNET_MARKETS}
    owners = [SubaccountId(hashlib.sha256(f"simulated account {n}".encode()).digest()[:20], 0) for n in range(len(accounts))]

    def write(store: KVStore) -> None:
        bank, margin = BankKeeper(store), MarginKeeper(store)
        for owner, account in zip(owners, accounts):
            bank.mint(owner, parse_decimal(str(account["collateral_usdc"]), 6, "collateral"))
            for entry in account.get("positions", []):
                market = markets[entry["market"]]
                market_id, step = int(market["market_id"]), int(market["step_size"])
                text = str(entry["size"])
                sign = -1 if text.startswith("-") else 1
                lots = sign * parse_decimal(text.lstrip("-"), int(market["size_decimals"]), "size") // step
                price_ticks = start[market_id] // int(market["tick_size"])
                per_lot = int(market["tick_size"]) * step // 10 ** int(market["size_decimals"])
                cost = lots * price_ticks * per_lot
                margin.set_position(Position(owner, market_id, lots, cost))
                house = margin.position(HOUSE, market_id)
                margin.set_position(Position(HOUSE, market_id, house.size_lots - lots, house.cost_micro_usdc - cost))
        bank.mint(HOUSE, 10**15)
        if insurance_usdc:
            bank.mint(INSURANCE_FUND, insurance_usdc * 1_000_000)

    return owners, write


def _counts(events: Iterable[Any]) -> dict[str, int]:
    """How many events (the modules' or ABCI's) of each type."""
    counts: dict[str, int] = {}
    for event in events:
        counts[event.type] = counts.get(event.type, 0) + 1
    return counts


def _oracle_price(store: KVStore, market_id: int) -> int:
    """The oracle price of `market_id`, which the step's block has just set."""
    price = OracleKeeper(store).price(market_id)
    assert price is not None, f"market {market_id} has no oracle price after a block that priced it"
    return price.price


def simulate(accounts: list[dict[str, Any]], path: list[dict[str, str]], insurance_usdc: int) -> Iterator[dict[str, Any]]:
    markets = {m["ticker"]: m for m in LOCALNET_MARKETS}
    first = {int(markets[t]["market_id"]): parse_decimal(p, 6, "price") for t, p in (path[0] if path else {}).items()}
    start = {int(m["market_id"]): int(m["reference_price"]) for m in LOCALNET_MARKETS} | first
    with tempfile.TemporaryDirectory() as directory, InProcessChain.start(
            Path(directory) / "db", priced_genesis("simulation", build_app_state([], LOCALNET_MARKETS))) as chain:
        chain.block(prices=start)
        owners, write = _accounts(accounts, start, insurance_usdc)
        carried: list[Any] = chain.write_state(write)  # liquidations of accounts written under maintenance

        for step, prices in enumerate(path, start=1):
            oracle = {int(markets[t]["market_id"]): parse_decimal(p, 6, "price") for t, p in prices.items()}
            counts = _counts([*carried, *chain.block(prices=oracle).events])
            carried = []
            store = chain.store
            fund = account_risk(INSURANCE_FUND, MarketsKeeper(store), BankKeeper(store), MarginKeeper(store),
                                OracleKeeper(store))
            negative = sum(1 for o in owners if account_risk(o, MarketsKeeper(store), BankKeeper(store),
                                                             MarginKeeper(store), OracleKeeper(store)).equity_micro_usdc < 0)
            yield {"step": step,
                   "prices": {t: str(_oracle_price(store, int(markets[t]["market_id"]))) for t in prices},
                   "liquidations": counts.get("liquidation", 0),
                   "book_closes": counts.get("liquidation_fill", 0),
                   "insurance_takeovers": counts.get("insurance_fund_takeover", 0),
                   "deleveraging": counts.get("deleveraging", 0),
                   "insurance_fund_collateral_micro_usdc": str(BankKeeper(store).balance(INSURANCE_FUND)),
                   "insurance_fund_equity_micro_usdc": str(fund.equity_micro_usdc),
                   "accounts_below_zero": negative}


def run(accounts_file: str | None, prices_file: str | None, random_accounts: int, steps: int, volatility_bps: int,
        seed: int, insurance_usdc: int) -> int:
    if accounts_file:
        accounts = json.loads(Path(accounts_file).read_text())
    else:
        rng = random.Random(seed)
        accounts = [{"collateral_usdc": str(rng.randint(200, 5_000)),
                     "positions": [{"market": rng.choice(["BTC-USD", "ETH-USD", "SOL-USD"]),
                                    "size": f"{rng.choice(['', '-'])}{rng.choice(['0.01', '0.05', '0.1', '1', '10'])}"}]}
                    for _ in range(random_accounts)]
    path = json.loads(Path(prices_file).read_text()) if prices_file else random_walk(steps, volatility_bps, seed)
    totals = {"liquidations": 0, "deleveraging": 0, "insurance_takeovers": 0}
    last: dict[str, Any] = {}
    for report in simulate(accounts, path, insurance_usdc):
        print(json.dumps(report))
        for key in totals:
            totals[key] += report[key]
        last = report
    print(json.dumps({"summary": True, "steps": len(path), "accounts": len(accounts), **totals,
                      "insurance_fund_equity_micro_usdc": last.get("insurance_fund_equity_micro_usdc"),
                      "accounts_below_zero": last.get("accounts_below_zero")}))
    return 0
