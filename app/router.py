"""Routes each action of an admitted tx to the module that owns it."""

from __future__ import annotations

from app.anchor_verify import VERIFIER as ANCHOR_VERIFIER
from app.ante import AdmittedTx
from app.bridge_verify import VERIFIER as BRIDGE_VERIFIER
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.msg_server import handle_sign_anchor
from modules.anchor.types import SignAnchor
from modules.auth.keeper import AuthKeeper
from modules.bank.keeper import BankKeeper
from modules.bank.msg_server import handle_transfer
from modules.bank.types import Transfer
from modules.bridge import msg_server as bridge
from modules.bridge.keeper import BridgeKeeper
from modules.bridge.types import ClaimDeposit, ResumeDeposits, SetBridgeKey, SignValset, SignWithdrawal, Withdraw
from modules.context import BlockContext, Event
from modules.margin.errors import InsufficientFreeCollateral
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.orderbook import conditional, twap
from modules.orderbook import msg_server as orderbook
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
from modules.orderbook.book import Books
from modules.orderbook.keeper import OrderbookKeeper
from modules.store import KVStore
from modules.types import SubaccountId

ORDER_ACTIONS = (PlaceOrder, CancelOrder, CancelAll, ModifyOrder, ScheduleCancelAll, PlaceConditional,
                 CancelConditional, PlaceTrailingStop, SetPositionTpSl, PlaceTwap, CancelTwap)


def use_nonce(store: KVStore, ctx: BlockContext, admitted: AdmittedTx) -> None:
    """A tx whose signature and nonce are valid uses its nonce, whatever its actions do, so it can
    never be included twice (the caller writes this outside the actions' branch)."""
    AuthKeeper(store).use_nonce(admitted.tx.account, admitted.tx.nonce, ctx.time_ms)


def has_order_actions(admitted: AdmittedTx) -> bool:
    return any(isinstance(action, ORDER_ACTIONS) for action in admitted.tx.actions)


def execute_tx(store: KVStore, ctx: BlockContext, admitted: AdmittedTx, books: Books) -> list[Event]:
    """Run every action in order (the nonce is used already); any error aborts the whole tx (the
    caller discards the store branch and rolls the books back)."""
    tx = admitted.tx
    bank = BankKeeper(store)
    book = OrderbookKeeper(store, books, ctx)
    events: list[Event] = []
    for action in tx.actions:
        if isinstance(action, Transfer):
            events.extend(handle_transfer(bank, tx.account, action))
            require_free_collateral(store, SubaccountId(tx.account, action.from_subaccount))
        elif isinstance(action, PlaceOrder):
            events.extend(orderbook.handle_place(book, tx.account, action))
        elif isinstance(action, CancelOrder):
            events.extend(orderbook.handle_cancel(book, tx.account, action))
        elif isinstance(action, CancelAll):
            events.extend(orderbook.handle_cancel_all(book, tx.account, action))
        elif isinstance(action, ModifyOrder):
            events.extend(orderbook.handle_modify(book, tx.account, action))
        elif isinstance(action, ScheduleCancelAll):
            events.extend(orderbook.handle_schedule_cancel(book, tx.account, action))
        elif isinstance(action, PlaceConditional):
            events.extend(conditional.handle_place_conditional(book, tx.account, action))
        elif isinstance(action, CancelConditional):
            events.extend(conditional.handle_cancel_conditional(book, tx.account, action))
        elif isinstance(action, PlaceTrailingStop):
            events.extend(conditional.handle_place_trailing_stop(book, tx.account, action))
        elif isinstance(action, SetPositionTpSl):
            events.extend(conditional.handle_set_position_tpsl(book, tx.account, action))
        elif isinstance(action, PlaceTwap):
            events.extend(twap.handle_place_twap(book, tx.account, action))
        elif isinstance(action, CancelTwap):
            events.extend(twap.handle_cancel_twap(book, tx.account, action))
        elif isinstance(action, ClaimDeposit):
            events.extend(bridge.handle_claim(BridgeKeeper(store), bank, ctx, tx.account, action))
        elif isinstance(action, Withdraw):
            events.extend(bridge.handle_withdraw(BridgeKeeper(store), bank, ctx, tx.account, action))
            require_free_collateral(store, SubaccountId(tx.account, action.subaccount))
        elif isinstance(action, SignWithdrawal):
            events.extend(bridge.handle_sign_withdrawal(BridgeKeeper(store), BRIDGE_VERIFIER, tx.account, action))
        elif isinstance(action, SetBridgeKey):
            events.extend(bridge.handle_set_bridge_key(BridgeKeeper(store), BRIDGE_VERIFIER, ctx.chain_id, tx.account,
                                                       action))
        elif isinstance(action, SignValset):
            events.extend(bridge.handle_sign_valset(BridgeKeeper(store), BRIDGE_VERIFIER, tx.account, action))
        elif isinstance(action, ResumeDeposits):
            events.extend(bridge.handle_resume_deposits(BridgeKeeper(store), bank, ctx, tx.account, action))
        elif isinstance(action, SignAnchor):
            events.extend(_sign_anchor(store, tx.account, action))
        else:  # the codec only produces known actions; this guards a missing route
            raise TypeError(f"no route for action {type(action).__name__}")
    return events


def require_free_collateral(store: KVStore, subaccount: SubaccountId) -> None:
    """Collateral backing positions or orders stays: what leaves must be free collateral, and what
    stays must keep the subaccount in the storage tier of what it stores (orders, conditionals,
    TWAPs), so collateral moved away cannot leave them stored unpaid."""
    margin = MarginKeeper(store)
    orders = OrderbookKeeper(store, Books(), BlockContext("", 0, 0))  # reads only
    stored = orderbook.stored_obligations(orders, subaccount)
    if not stored and next(iter(margin.positions(subaccount)), None) is None and \
            next(iter(margin.exposures(subaccount)), None) is None:
        return
    risk = account_risk(subaccount, MarketsKeeper(store), BankKeeper(store), margin, OracleKeeper(store))
    if risk.free_collateral_micro_usdc < 0:
        raise InsufficientFreeCollateral(
            f"{subaccount} would keep equity {risk.equity_micro_usdc} micro-USDC against an initial requirement "
            f"of {risk.initial_micro_usdc}; move at most its free collateral")
    if stored:
        orderbook.require_storage_room(orders, subaccount, risk.equity_micro_usdc, adding=0)


def check_tx(store: KVStore, ctx: BlockContext, admitted: AdmittedTx) -> None:
    """The mempool's check on the check state, which keeps its effects for later txs: the nonce,
    and every action but the order actions (the application runs those on a throwaway branch with
    the block's own handlers, see Application.check_tx)."""
    tx = admitted.tx
    use_nonce(store, ctx, admitted)
    bank = BankKeeper(store)
    markets, oracle = MarketsKeeper(store), OracleKeeper(store)
    for action in tx.actions:
        if isinstance(action, Transfer):
            handle_transfer(bank, tx.account, action)
            require_free_collateral(store, SubaccountId(tx.account, action.from_subaccount))
        elif isinstance(action, PlaceOrder):
            orderbook.validate_place(markets, oracle, ctx, action)
        elif isinstance(action, PlaceTrailingStop):
            conditional.validate_trailing_stop(markets, action)
        elif isinstance(action, SetPositionTpSl):
            conditional.validate_position_tpsl(markets, action)
        elif isinstance(action, PlaceTwap):
            twap.validate_twap(markets, action)
        elif isinstance(action, (CancelOrder, CancelAll, ModifyOrder, PlaceConditional, CancelConditional,
                                 CancelTwap)):
            markets.market(action.market_id) if action.market_id else None
        elif isinstance(action, ClaimDeposit):  # the whole tally on the check state: a duplicate fails here
            bridge.handle_claim(BridgeKeeper(store), bank, ctx, tx.account, action)
        elif isinstance(action, Withdraw):
            bridge.handle_withdraw(BridgeKeeper(store), bank, ctx, tx.account, action)
            require_free_collateral(store, SubaccountId(tx.account, action.subaccount))
        elif isinstance(action, SignWithdrawal):
            bridge.handle_sign_withdrawal(BridgeKeeper(store), BRIDGE_VERIFIER, tx.account, action)
        elif isinstance(action, SetBridgeKey):
            bridge.handle_set_bridge_key(BridgeKeeper(store), BRIDGE_VERIFIER, ctx.chain_id, tx.account, action)
        elif isinstance(action, SignValset):
            bridge.handle_sign_valset(BridgeKeeper(store), BRIDGE_VERIFIER, tx.account, action)
        elif isinstance(action, ResumeDeposits):  # the whole resume on the check state, as a claim's tally
            bridge.handle_resume_deposits(BridgeKeeper(store), bank, ctx, tx.account, action)
        elif isinstance(action, SignAnchor):
            _sign_anchor(store, tx.account, action)


def _sign_anchor(store: KVStore, signer: bytes, action: SignAnchor) -> list[Event]:
    return handle_sign_anchor(AnchorKeeper(store), BridgeKeeper(store), ANCHOR_VERIFIER, signer, action)
