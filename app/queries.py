"""abci_query paths, answered from committed state only, as canonical JSON.

| path                              | answer                                                   |
| /bank/balance/<address>/<number>  | {"address", "subaccount", "amount_micro_usdc"}           |
| /bank/balances/<address>          | {"address", "balances": [{"subaccount", "amount_micro_usdc"}]} |
| /bank/supply                      | {"supply_micro_usdc"}                                    |
| /auth/nonces/<address>            | {"address", "recent_nonces": [...]}                      |
| /app/status                       | {"chain_id", "height", "app_hash", "block_time_ms"}      |
| /app/hash/<height>                | {"height", "app_hash"}: the hash this node committed there |
| /markets, /markets/<id>           | market parameters                                         |
| /params                           | the genesis params in force: storage tiers, per-block budgets |
| /book/<market>/<depth>            | L2: {"bids": [[price, size, orders]], "asks": [...]}      |
| /book/<market>/l3/<depth>         | L3: each resting order, best first                        |
| /orders/<address>/<number>        | a subaccount's open orders                                |
| /conditionals/<address>/<number>  | its stops, take-profits, trailing stops and position TP/SL |
| /twaps/<address>/<number>         | its running TWAPs: filled, remaining, slices done, next block |
| /trades/<market>/<limit>          | the market's most recent trades, newest first             |
| /positions/<address>/<number>     | positions, collateral, equity and margin requirements     |
| /oracle/prices                    | each market's oracle price, its height, staleness          |
| /liquidation/status|at_risk/<n>|history/<n> | insurance fund, subaccounts nearest liquidation, latest liquidations |
| /funding/<market>                 | funding index, this hour's samples, the last 48 hourly rates |
| /anchor/status, /anchor/records/<nonce>, /anchor/proof/<address>[/<nonce>] | anchors and exit proofs (modules/anchor/queries.py) |
| /whatif/<addr>/<n>/<market>/<side>/<price>/<size>/<kind> | a prospective order, simulated (app/whatif.py) |

Integers that can exceed 2^53 are decimal strings, so no JSON reader loses precision. Every
integer in a path goes through the one parser (modules/integers.py): ASCII digits, no sign or
leading zero, within the field's range, else code 24 (malformed), 25 (2^64 or more) or 26 (out of
the field's range), never a traceback.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from app.store import CommitInfo, CommittedStore
from app.whatif import what_if
from modules.anchor import queries as anchor_queries
from modules.anchor.merkle import BalanceTree
from modules.auth.keeper import AuthKeeper
from modules.bank.keeper import BankKeeper
from modules.bridge import queries as bridge_queries
from modules.context import BlockContext
from modules.errors import ChainError
from modules.funding.keeper import FundingKeeper
from modules.genesis import PARAMS_SECTIONS
from modules.integers import I64_MAX, U32_MAX, check_range, parse_uint, shown
from modules.keepers import orderbook_keeper
from modules.margin.funding_settlement import settled_view
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk, liquidation_price
from modules.markets.genesis import market_to_json
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.oracle.update import margin_price
from modules.orderbook.book import Books
from modules.orderbook.conditional_store import ConditionalBook
from modules.orderbook.conditional_store import to_json as conditional_json
from modules.orderbook.twap import TwapBook
from modules.orderbook.twap import to_json as twap_json
from modules.orderbook.types import Order, Side
from modules.store import KVStore
from modules.types import MAX_SUBACCOUNT, SubaccountId
from wire.crypto import keccak256


class QueryError(ChainError):
    codespace = "query"


class UnknownQueryPath(QueryError):
    """No query answers at that path."""

    code = 20


class BadQueryArgument(QueryError):
    """An argument in the path is malformed: an address, the number of arguments, the path's shape
    (a bad integer gets the integer codes 24-26 of modules/integers.py)."""

    code = 21


class HeightNotAvailable(QueryError):
    """Only the latest committed state is served; ask with height 0 or the latest height."""

    code = 22


def _address(text: str) -> bytes:
    if not (text.startswith("0x") and len(text) == 42):
        raise BadQueryArgument(f"address must be 0x followed by 40 hex digits, got {shown(text)}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise BadQueryArgument(f"address is not hexadecimal: {shown(text)}") from None


def _subaccount_number(text: str) -> int:
    return parse_uint(text, "subaccount", 0, MAX_SUBACCOUNT)


def _market_id(text: str) -> int:
    return parse_uint(text, "market id", 1, U32_MAX)


def _balance(store: KVStore, args: list[str]) -> dict[str, Any]:
    address, number = _address(args[0]), _subaccount_number(args[1])
    amount = BankKeeper(store).balance(SubaccountId(address, number))
    return {"address": args[0].lower(), "subaccount": number, "amount_micro_usdc": str(amount)}


def _balances(store: KVStore, args: list[str]) -> dict[str, Any]:
    address = _address(args[0])
    bank = BankKeeper(store)
    entries = [
        {"subaccount": n, "amount_micro_usdc": str(bank.balance(SubaccountId(address, n)))}
        for n in range(MAX_SUBACCOUNT + 1)
    ]
    return {"address": args[0].lower(), "balances": [e for e in entries if e["amount_micro_usdc"] != "0"]}


def _supply(store: KVStore, args: list[str]) -> dict[str, Any]:
    return {"supply_micro_usdc": str(BankKeeper(store).supply())}


def _nonces(store: KVStore, args: list[str]) -> dict[str, Any]:
    recent = AuthKeeper(store).recent_nonces(_address(args[0]))
    return {"address": args[0].lower(), "recent_nonces": [str(n) for n in recent]}


def _markets(store: KVStore, args: list[str]) -> dict[str, Any]:
    return {"markets": [market_to_json(m) for m in MarketsKeeper(store).markets()]}


def _market(store: KVStore, args: list[str]) -> dict[str, Any]:
    return market_to_json(MarketsKeeper(store).market(_market_id(args[0])))


def _order_json(order: Order, store: KVStore) -> dict[str, Any]:
    market = MarketsKeeper(store).market(order.market_id)
    return {
        "order_id": str(order.order_id), "market_id": order.market_id, "owner": f"0x{order.owner.address.hex()}",
        "subaccount": order.owner.number, "client_id": str(order.client_id), "side": order.side.name.lower(),
        "price": str(order.price_ticks * market.tick_size), "size": str(order.size_lots * market.step_size),
        "time_in_force": order.tif.name, "post_only": order.post_only, "reduce_only": order.reduce_only,
        "good_til_block": order.good_til_block, "good_til_time_ms": str(order.good_til_time_ms),
    }


def _orders(store: KVStore, args: list[str]) -> dict[str, Any]:
    owner = SubaccountId(_address(args[0]), _subaccount_number(args[1]))
    keeper = orderbook_keeper(store, Books(), BlockContext("", 0, 0))
    return {"address": args[0].lower(), "subaccount": owner.number,
            "orders": [_order_json(o, store) for o in keeper.orders_of(owner)]}


def _conditionals(store: KVStore, args: list[str]) -> dict[str, Any]:
    owner = SubaccountId(_address(args[0]), _subaccount_number(args[1]))
    markets = MarketsKeeper(store)
    return {"address": args[0].lower(), "subaccount": owner.number,
            "conditionals": [conditional_json(c, markets.market(c.market_id)) for c in ConditionalBook(store).of(owner)]}


def _twaps(store: KVStore, args: list[str]) -> dict[str, Any]:
    owner = SubaccountId(_address(args[0]), _subaccount_number(args[1]))
    markets = MarketsKeeper(store)
    return {"address": args[0].lower(), "subaccount": owner.number,
            "twaps": [twap_json(t, markets.market(t.market_id)) for t in TwapBook(store).of(owner)]}


def _trades(store: KVStore, args: list[str]) -> dict[str, Any]:
    market = MarketsKeeper(store).market(_market_id(args[0]))
    keeper = orderbook_keeper(store, Books(), BlockContext("", 0, 0))
    trades = keeper.recent_trades(market.market_id, parse_uint(args[1], "limit", 0, 200))
    return {"market_id": market.market_id, "trades": [
        {"height": t.height, "seq": t.seq, "price": str(t.price_ticks * market.tick_size),
         "size": str(t.size_lots * market.step_size), "taker_side": t.taker_side.name.lower(),
         "maker": str(t.maker), "taker": str(t.taker)} for t in trades]}


def _positions(store: KVStore, args: list[str]) -> dict[str, Any]:
    """Positions with funding settled into the cost (as every margin check sees them)."""
    owner = SubaccountId(_address(args[0]), _subaccount_number(args[1]))
    markets, margin, bank = MarketsKeeper(store), MarginKeeper(store), BankKeeper(store)
    funding, oracle = FundingKeeper(store), OracleKeeper(store)
    risk = account_risk(owner, markets, bank, margin, oracle)
    positions, gross = [], 0
    for stored in margin.positions(owner):
        position = settled_view(stored, funding)
        market = markets.market(position.market_id)
        price = margin_price(oracle, market.market_id, market.reference_price)
        size = position.size_lots * market.step_size
        gross += abs(size) * price // 10**market.size_decimals
        positions.append({
            "market_id": position.market_id, "ticker": market.ticker, "size": str(size),
            "cost_micro_usdc": str(position.cost_micro_usdc),
            "entry_price": str(abs(position.cost_micro_usdc) * 10**market.size_decimals // abs(size)) if size else None,
            "oracle_price": str(price),
            "unrealized_pnl_micro_usdc": str(market.notional(price // market.tick_size, position.size_lots)
                                             - position.cost_micro_usdc),
            "unsettled_funding_micro_usdc": str(position.cost_micro_usdc - stored.cost_micro_usdc),
            "liquidation_price": _optional(liquidation_price(position, market, risk, price // market.tick_size)),
        })
    return {"address": args[0].lower(), "subaccount": owner.number,
            "collateral_micro_usdc": str(bank.balance(owner)), "positions": positions,
            "equity_micro_usdc": str(risk.equity_micro_usdc),
            "initial_margin_micro_usdc": str(risk.initial_micro_usdc),
            "maintenance_margin_micro_usdc": str(risk.maintenance_micro_usdc),
            "free_collateral_micro_usdc": str(risk.free_collateral_micro_usdc),
            "leverage_bp": gross * 10_000 // risk.equity_micro_usdc if risk.equity_micro_usdc > 0 else None}


def _optional(value: int | None) -> str | None:
    return str(value) if value is not None else None


def _oracle_prices(store: KVStore, height: int) -> dict[str, Any]:
    oracle = OracleKeeper(store)
    entries = []
    for market in MarketsKeeper(store).markets():
        current = oracle.price(market.market_id)
        entries.append({"market_id": market.market_id, "ticker": market.ticker,
                        "price": str(current.price) if current else None,
                        "updated_height": current.updated_height if current else None,
                        "reference_price": str(market.reference_price),
                        "stale": oracle.is_stale(market.market_id, height + 1)})
    return {"prices": entries}


def _funding(store: KVStore, args: list[str]) -> dict[str, Any]:
    market = MarketsKeeper(store).market(_market_id(args[0]))
    keeper = FundingKeeper(store)
    state = keeper.state(market.market_id)
    current = (state.premium_sum_ppm // state.samples) if state.samples else 0
    return {"market_id": market.market_id, "index_pico_usdc_per_lot": str(state.index),
            "current_hour": state.hour, "samples_this_hour": state.samples, "mean_premium_ppm_this_hour": current,
            "pool_micro_usdc": str(keeper.pool()),
            "history": [{"hour": r.hour, "rate_ppm": r.rate_ppm, "index": str(r.index)}
                        for r in keeper.history(market.market_id)]}


def _liquidation(store: KVStore, args: list[str]) -> dict[str, Any]:
    """/liquidation/status | /liquidation/at_risk/<n> | /liquidation/history/<n>"""
    from modules.liquidation.index import LiquidationHistory, LiquidationIndex
    from modules.types import INSURANCE_FUND

    if args == ["status"]:
        index = LiquidationIndex(store)
        risk = account_risk(INSURANCE_FUND, MarketsKeeper(store), BankKeeper(store), MarginKeeper(store),
                            OracleKeeper(store))
        return {"insurance_fund": f"0x{INSURANCE_FUND.address.hex()}/0",
                "insurance_fund_collateral_micro_usdc": str(BankKeeper(store).balance(INSURANCE_FUND)),
                "insurance_fund_equity_micro_usdc": str(risk.equity_micro_usdc),
                "movement_ppm": index.movement(), "indexed_subaccounts": index.indexed()}
    if len(args) == 2 and args[0] in ("at_risk", "history"):
        limit = parse_uint(args[1], "limit", 0, 500)
        history = LiquidationHistory(store)
        if args[0] == "at_risk":
            movement = LiquidationIndex(store).movement()
            return {"movement_ppm": movement, "at_risk": [
                {"subaccount": str(s), "headroom_ppm": d - movement} for s, d in history.at_risk(limit)]}
        return {"liquidations": [{"height": h, "subaccount": str(s), "equity_micro_usdc": str(e)}
                                 for h, s, e in history.latest(limit)]}
    raise BadQueryArgument("liquidation paths: /liquidation/status, /liquidation/at_risk/<n>, /liquidation/history/<n>")


def _book(store: KVStore, books: Books, args: list[str]) -> dict[str, Any]:
    """From the node's in-memory books (between FinalizeBlock and Commit they include the block
    being committed)."""
    market = MarketsKeeper(store).market(_market_id(args[0]))
    book = books[market.market_id]
    if len(args) == 3:
        if args[1] != "l3":
            raise BadQueryArgument("book paths are /book/<market>/<depth> or /book/<market>/l3/<depth>")
        depth = parse_uint(args[2], "depth", 0, 1000)
        return {"market_id": market.market_id, **{
            name: [_order_json(o, store) for _, o in zip(range(depth), book.iter_orders(side))]
            for name, side in (("bids", Side.BUY), ("asks", Side.SELL))}}
    depth = parse_uint(args[1], "depth", 0, 1000)
    return {"market_id": market.market_id, **{
        name: [[str(p * market.tick_size), str(s * market.step_size), n] for p, s, n in book.levels(side, depth)]
        for name, side in (("bids", Side.BUY), ("asks", Side.SELL))}}


_ROUTES: dict[tuple[str, str], tuple[int, Callable[[KVStore, list[str]], dict[str, Any]]]] = {
    ("bank", "balance"): (2, _balance),
    ("bank", "balances"): (1, _balances),
    ("bank", "supply"): (0, _supply),
    ("auth", "nonces"): (1, _nonces),
    ("orders", ""): (2, _orders),
    ("trades", ""): (2, _trades),
    ("positions", ""): (2, _positions),
    ("markets", ""): (1, _market),
    ("funding", ""): (1, _funding),
    ("conditionals", ""): (2, _conditionals),
    ("twaps", ""): (2, _twaps),
}


def _app_hash_at(store: CommittedStore, text: str) -> dict[str, Any]:
    height = parse_uint(text, "height", 1, I64_MAX)
    app_hash = store.app_hash_at(height)
    if app_hash is None:
        raise HeightNotAvailable(f"this node committed no block at height {height}")
    return {"height": height, "app_hash": app_hash.hex()}


def answer(store: CommittedStore, chain_id: str, last: CommitInfo, path: str, height: int, books: Books,
           latest: KVStore | None = None, anchor_tree: BalanceTree | None = None) -> bytes:
    """The JSON answer for `path`, or a ChainError. `latest`: the state including a finalized, not yet
    committed block (what-if runs on it). Only height 0 (the latest) or the latest height is served."""
    check_range(height, "query height", 0, I64_MAX)
    if height not in (0, last.height):
        raise HeightNotAvailable(f"height {height} is not served; the latest is {last.height}")
    parts = path.strip("/").split("/") if path.strip("/") else []
    if "" in parts:  # an empty argument would shift the others into the wrong places
        raise BadQueryArgument(f"{shown(path)} has an empty segment between two '/'")
    if parts == ["app", "status"]:
        result: dict[str, Any] = {
            "chain_id": chain_id,
            "height": last.height,
            "app_hash": last.app_hash.hex(),
            "block_time_ms": last.block_time_ms,
        }
    elif parts[:2] == ["app", "hash"] and len(parts) == 3:
        result = _app_hash_at(store, parts[2])
    elif parts[:1] == ["whatif"]:
        ctx = BlockContext(chain_id, last.height + 1, last.block_time_ms)
        result = what_if(latest if latest is not None else store, books, ctx, parts[1:])
    elif parts[:1] == ["liquidation"]:
        result = _liquidation(store, parts[1:])
    elif parts == ["oracle", "prices"]:
        result = _oracle_prices(store, last.height)
    elif parts == ["markets"]:
        result = _markets(store, [])
    elif parts == ["params"]:
        result = {section.name: section.export_genesis(store)["params"] for section in PARAMS_SECTIONS}
    elif parts[:1] == ["bridge"]:  # modules/bridge/queries.py
        result = bridge_queries.answer(store, parts[1:])
    elif parts[:1] == ["anchor"]:  # modules/anchor/queries.py; proofs from the node's live tree when it matches
        result = anchor_queries.answer(store, keccak256, parts[1:], anchor_tree)
    elif parts[:1] == ["book"] and len(parts) in (3, 4):
        result = _book(store, books, parts[1:])
    else:
        # /module/name/args... or /name/args... (the orderbook and margin paths)
        route = _ROUTES.get((parts[0], parts[1])) if len(parts) >= 2 else None
        args = parts[2:]
        if route is None and parts:
            route, args = _ROUTES.get((parts[0], "")), parts[1:]
        if route is None:
            raise UnknownQueryPath(f"no query at {path!r}; see docs/queries.md")
        arity, handler = route
        if len(args) != arity:
            raise BadQueryArgument(f"{path!r} takes {arity} argument(s), got {len(args)}")
        result = handler(store, args)
    return json.dumps(result, sort_keys=True, separators=(",", ":")).encode()
