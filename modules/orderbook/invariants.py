"""Checks that must hold after every block; each returns a message when broken, else None."""

from __future__ import annotations

from modules.bank.keeper import BankKeeper
from modules.context import BlockContext
from modules.encoding import read_subaccount, stored_uint
from modules.keepers import orderbook_keeper
from modules.margin.keeper import MarginKeeper
from modules.orderbook.book import Books
from modules.orderbook.conditional_store import ConditionalBook
from modules.orderbook.keeper import OrderbookKeeper
from modules.orderbook.keys import (
    CONDITIONAL_BY_SUBACCOUNT,
    CONDITIONAL_COUNT,
    STORE_PREFIX,
    TWAP_BY_SUBACCOUNT,
    TWAP_COUNT,
)
from modules.orderbook.twap import TwapBook
from modules.orderbook.types import Side
from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import SubaccountId


def books_sound(books: Books) -> str | None:
    """Never crossed, levels in price-time order, cached totals and bests right."""
    for market_id in books.market_ids():
        problems = books[market_id].invariant_violations()
        if problems:
            return f"orderbook: market {market_id}: {problems[0]}"
    return None


def books_match_store(store: KVStore, books: Books) -> str | None:
    """The in-memory books equal the resting orders a restarted node would load from the store."""
    loaded = OrderbookKeeper.load_books(store)
    for market_id in books.market_ids():
        if market_id not in loaded or loaded[market_id].dump() != books[market_id].dump():
            return f"orderbook: market {market_id}: the in-memory book differs from the stored orders"
    extra = sorted(set(loaded.market_ids()) - set(books.market_ids()))
    if extra:
        return f"orderbook: market {extra[0]} is stored but has no in-memory book"
    return None


def resting_orders_have_owners(store: KVStore, books: Books) -> str | None:
    """Every resting order belongs to a subaccount that holds collateral or a position."""
    bank, margin = BankKeeper(store), MarginKeeper(store)
    known: dict[SubaccountId, bool] = {}
    for market_id in books.market_ids():
        for side in (Side.BUY, Side.SELL):
            for order in books[market_id].iter_orders(side):
                owner = order.owner
                if owner not in known:
                    known[owner] = bank.balance(owner) != 0 or any(True for _ in margin.positions(owner))
                if not known[owner]:
                    return f"orderbook: order {order.order_id} in market {market_id} belongs to {owner}, which holds nothing"
    return None


def exposure_matches_orders(store: KVStore, books: Books) -> str | None:
    """margin's open-order exposure per (subaccount, market) is the resting lots plus icebergs'
    hidden reserves, plus what conditionals and TWAPs that may open a position reserve (their
    size, what remains), nothing more, nothing less."""
    keeper = orderbook_keeper(store, books, BlockContext("", 0, 0))  # reads only
    expected: dict[tuple[SubaccountId, int], list[int]] = {}
    for market_id in books.market_ids():
        for side in (Side.BUY, Side.SELL):
            for order in books[market_id].iter_orders(side):
                hidden = (keeper.iceberg(market_id, order.order_id) or (0, 0))[1]
                lots = expected.setdefault((order.owner, market_id), [0, 0])
                lots[0 if side == Side.BUY else 1] += order.size_lots + hidden
    reserved = [(c.owner, c.market_id, c.side, c.size_lots) for c in ConditionalBook(store).all() if not c.reduce_only]
    reserved += [(t.owner, t.market_id, t.side, t.remaining_lots) for t in TwapBook(store).all() if not t.reduce_only]
    for owner, market_id, side, size in reserved:
        expected.setdefault((owner, market_id), [0, 0])[0 if side == Side.BUY else 1] += size
    stored = {(subaccount, market_id): [exposure.bid_lots, exposure.ask_lots]
              for subaccount, market_id, exposure in MarginKeeper(store).all_exposures()}
    for key in sorted(set(expected) | set(stored)):
        if expected.get(key, [0, 0]) != stored.get(key, [0, 0]):
            subaccount, market_id = key
            return (f"orderbook: {subaccount} in market {market_id} has exposure {stored.get(key, [0, 0])} "
                    f"(bid, ask lots) but rests {expected.get(key, [0, 0])}")
    return None


def stored_counts_match_indexes(store: KVStore) -> str | None:
    """Each subaccount's count of conditionals and of TWAPs is how many it stores and how many its
    index names (a zero count is absent): `of` trusts a zero count and reads no range."""
    prefixed = PrefixStore(store, STORE_PREFIX)
    for name, count_prefix, index_prefix, stored in (
            ("conditionals", CONDITIONAL_COUNT, CONDITIONAL_BY_SUBACCOUNT, ConditionalBook(store).all()),
            ("TWAPs", TWAP_COUNT, TWAP_BY_SUBACCOUNT, TwapBook(store).all())):
        held: dict[SubaccountId, int] = {}
        for record in stored:
            held[record.owner] = held.get(record.owner, 0) + 1
        indexed: dict[SubaccountId, int] = {}
        for key, _ in prefixed.iterate(index_prefix, prefix_end(index_prefix)):
            owner = read_subaccount(key[len(index_prefix):])  # the subaccount the key starts with
            indexed[owner] = indexed.get(owner, 0) + 1
        counted = {read_subaccount(key[len(count_prefix):]): stored_uint(raw)
                   for key, raw in prefixed.iterate(count_prefix, prefix_end(count_prefix))}
        for owner in sorted(set(held) | set(indexed) | set(counted), key=str):
            found = (held.get(owner, 0), indexed.get(owner, 0), counted.get(owner, 0))
            if len(set(found)) != 1:
                return (f"orderbook: {owner} stores {found[0]} {name}, its index names {found[1]} and its count "
                        f"says {found[2]}")
    return None
