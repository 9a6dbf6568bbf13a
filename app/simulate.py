"""`perpchain simulate`: replay a price path against a set of accounts on an in-process chain and
report, per step, liquidations, insurance-fund balance and auto-deleveraging — a tool to set
margin parameters before a market lists.

Accounts (JSON): [{"collateral_usdc": "1000", "positions": [{"market": "BTC-USD", "size": "0.1"}]}]
with signed sizes in base units; a "house" subaccount takes the other side of every position at
the first step's prices (it is deleveraged like anyone). Prices (JSON): a list of steps, each
{"BTC-USD": "64000.5", ...}; a market missing from a step keeps its price. Or generated: a
seeded random walk of N steps with a per-step volatility in basis points.

The chain is the real Application over a temporary LevelDB with the localnet markets; each step
is one block whose oracle tx carries that step's prices (the per-block clamp applies).
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from pathlib import Path
from typing import Any, Iterator

from app.application import Application
from app.bench_liquidation import START_MS, VALIDATOR_KEY, _finalize, _oracle
from app.router import keepers_over
from app.store import CacheStore, CommitInfo, CommittedStore, next_app_hash
from genesis.markets import LOCALNET_MARKETS
from modules.bank.keeper import BankKeeper
from modules.context import BlockContext
from modules.liquidation.engine import _reindex
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.margin.types import Position
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.types import INSURANCE_FUND, SubaccountId
from wire.amounts import parse_decimal
from wire.pb import abci_pb

from tendermint.crypto import keys_pb2 as keys_pb

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


def simulate(accounts: list[dict[str, Any]], path: list[dict[str, str]], insurance_usdc: int) -> Iterator[dict[str, Any]]:
    markets = {m["ticker"]: m for m in LOCALNET_MARKETS}
    with tempfile.TemporaryDirectory() as directory:
        store = CommittedStore(Path(directory) / "db")
        app = Application(store)
        request = abci_pb.RequestInitChain(chain_id="simulation", app_state_bytes=json.dumps(
            {"bank": {"balances": []}, "markets": {"markets": LOCALNET_MARKETS}}).encode())
        request.validators.add(pub_key=keys_pb.PublicKey(ed25519=VALIDATOR_KEY), power=10)
        request.consensus_params.abci.vote_extensions_enable_height = 1
        app.init_chain(request)
        first = {int(markets[t]["market_id"]): parse_decimal(p, 6, "price") for t, p in (path[0] if path else {}).items()}
        start = {int(m["market_id"]): int(m["reference_price"]) for m in LOCALNET_MARKETS} | first
        _finalize(app, 1, [_oracle(start)])

        cache = CacheStore(store)
        bank, margin = BankKeeper(cache), MarginKeeper(cache)
        owners = []
        for number, account in enumerate(accounts):
            owner = SubaccountId(hashlib.sha256(f"simulated account {number}".encode()).digest()[:20], 0)
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
            owners.append(owner)
        bank.mint(HOUSE, 10**15)
        if insurance_usdc:
            bank.mint(INSURANCE_FUND, insurance_usdc * 1_000_000)
        keepers = keepers_over(cache, app.books, BlockContext("simulation", 2, START_MS + 1_000))
        for owner in [*owners, HOUSE]:
            _reindex(keepers, owner, 0)
        store.commit(cache.writes, CommitInfo(2, next_app_hash(store.last_commit().app_hash, 2, cache.writes),
                                              START_MS + 1_000))
        app.signers.close()
        app = Application(store)

        for step, prices in enumerate(path, start=1):
            oracle = {int(markets[t]["market_id"]): parse_decimal(p, 6, "price") for t, p in prices.items()}
            _, response = _finalize(app, 2 + step, [_oracle(oracle)])
            counts: dict[str, int] = {}
            for event in response.events:
                counts[event.type] = counts.get(event.type, 0) + 1
            fund = account_risk(INSURANCE_FUND, MarketsKeeper(store), BankKeeper(store), MarginKeeper(store),
                                OracleKeeper(store))
            negative = sum(1 for o in owners if account_risk(o, MarketsKeeper(store), BankKeeper(store),
                                                             MarginKeeper(store), OracleKeeper(store)).equity_micro_usdc < 0)
            yield {"step": step,
                   "prices": {t: str(OracleKeeper(store).price(int(markets[t]["market_id"])).price)  # type: ignore[union-attr]
                              for t in prices},
                   "liquidations": counts.get("liquidation", 0),
                   "book_closes": counts.get("liquidation_fill", 0),
                   "insurance_takeovers": counts.get("insurance_fund_takeover", 0),
                   "deleveraging": counts.get("deleveraging", 0),
                   "insurance_fund_collateral_micro_usdc": str(BankKeeper(store).balance(INSURANCE_FUND)),
                   "insurance_fund_equity_micro_usdc": str(fund.equity_micro_usdc),
                   "accounts_below_zero": negative}
        app.signers.close()
        store.close()


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
