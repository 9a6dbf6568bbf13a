"""orderbook's declaration (modules/module.py): orders, conditionals and TWAPs, its genesis
params, its invariants, its start-of-block step (expiries and dead-man switches, then the
conditionals the oracle crossed, then the TWAP children due), its queries.

CheckTx runs each action's `check` (the rules that need neither book nor subaccount) and then
the whole tx on a throwaway branch over the committed books (`dry_run`), so it refuses what the
block would, with the same code."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from modules.context import Event
from modules.keepers import Keepers
from modules.module import Block, Check, Handler, Invariant, Module, Query, Route
from modules.orderbook import conditional, genesis, invariants, msg_server, queries, twap_handlers
from modules.orderbook.actions import (
    CancelAll,
    CancelConditional,
    CancelOrder,
    CancelTwap,
    ModifyOrder,
    PlaceConditional,
    PlaceOrder,
    PlaceTrailingStop,
    PlaceTwap,
    ScheduleCancelAll,
    SetPositionTpSl,
)
from modules.orderbook.keeper import OrderbookKeeper

BookHandler = Callable[[OrderbookKeeper, bytes, Any], list[Event]]


def _on_book(handle: BookHandler) -> Handler:
    """A handler of the orderbook keeper's, given the tx's keepers."""

    def deliver(k: Keepers, signer: bytes, action: Any) -> list[Event]:
        return handle(k.orderbook, signer, action)

    return deliver


def _check_market(k: Keepers, signer: bytes, action: Any) -> None:
    """The market it names exists (0: every market)."""
    if action.market_id:
        k.markets.market(action.market_id)


def _check_place(k: Keepers, signer: bytes, action: PlaceOrder) -> None:
    msg_server.validate_place(k.markets, k.oracle, k.ctx, action)


def _check_trailing_stop(k: Keepers, signer: bytes, action: PlaceTrailingStop) -> None:
    conditional.validate_trailing_stop(k.markets, action)


def _check_position_tpsl(k: Keepers, signer: bytes, action: SetPositionTpSl) -> None:
    conditional.validate_position_tpsl(k.markets, action)


def _check_twap(k: Keepers, signer: bytes, action: PlaceTwap) -> None:
    twap_handlers.validate_twap(k.markets, action)


def _check_nothing(k: Keepers, signer: bytes, action: Any) -> None:
    """All of it needs the state the dry run gives."""


def _route(handle: BookHandler, check: Check) -> Route:
    return Route(_on_book(handle), check, dry_run=True)


def _place_route() -> Route:
    """Placements: a run of them in one tx (a market maker's ladder) shares its risk reads."""

    def deliver_run(k: Keepers, signer: bytes, actions: Sequence[PlaceOrder]) -> list[Event]:
        return msg_server.handle_place_run(k.orderbook, signer, actions)

    return Route(_on_book(msg_server.handle_place), _check_place, dry_run=True, deliver_run=deliver_run)


def _begin_block(block: Block) -> list[Event]:
    keeper = block.keepers.orderbook
    events = msg_server.begin_block(keeper)
    events += conditional.trigger_step(keeper, block.branching)
    return events + twap_handlers.twap_step(keeper, block.branching)


MODULE = Module(
    "orderbook",
    routes={
        PlaceOrder: _place_route(),
        CancelOrder: _route(msg_server.handle_cancel, _check_market),
        CancelAll: _route(msg_server.handle_cancel_all, _check_market),
        ModifyOrder: _route(msg_server.handle_modify, _check_market),
        ScheduleCancelAll: _route(msg_server.handle_schedule_cancel, _check_nothing),
        PlaceConditional: _route(conditional.handle_place_conditional, _check_market),
        CancelConditional: _route(conditional.handle_cancel_conditional, _check_market),
        PlaceTrailingStop: _route(conditional.handle_place_trailing_stop, _check_trailing_stop),
        SetPositionTpSl: _route(conditional.handle_set_position_tpsl, _check_position_tpsl),
        PlaceTwap: _route(twap_handlers.handle_place_twap, _check_twap),
        CancelTwap: _route(twap_handlers.handle_cancel_twap, _check_market),
    },
    genesis=genesis.SECTION,
    invariants=(
        Invariant("orderbook/books-sound", lambda c: invariants.books_sound(c.books)),
        Invariant("orderbook/books-match-store", lambda c: invariants.books_match_store(c.store, c.books)),
        Invariant("orderbook/orders-have-owners", lambda c: invariants.resting_orders_have_owners(c.store, c.books)),
        Invariant("orderbook/exposure-matches-orders", lambda c: invariants.exposure_matches_orders(c.store, c.books)),
        Invariant("orderbook/stored-counts-match", lambda c: invariants.stored_counts_match_indexes(c.store)),
    ),
    begin_block=_begin_block,
    queries={
        ("book",): Query(None, queries.book),
        ("orders",): Query(2, queries.orders),
        ("conditionals",): Query(2, queries.conditionals),
        ("twaps",): Query(2, queries.twaps),
        ("trades",): Query(2, queries.trades),
    },
)
