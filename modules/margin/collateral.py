"""What collateral may leave a subaccount (a transfer out, a withdrawal): bank and bridge move it,
then hold the subaccount to this rule."""

from __future__ import annotations

from modules.margin.errors import InsufficientFreeCollateral
from modules.margin.expected_keepers import Bank, Markets, Prices, StoredOrders
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.types import SubaccountId


def require_free_collateral(subaccount: SubaccountId, markets: Markets, bank: Bank, margin: MarginKeeper,
                            oracle: Prices, orders: StoredOrders) -> None:
    """Collateral backing positions or orders stays: what left must have been free collateral, and
    what stays must keep the subaccount in the storage tier of what it stores (orders,
    conditionals, TWAPs), so collateral moved away cannot leave them stored unpaid."""
    stored = orders.stored_obligations(subaccount)
    if not stored and not margin.positions(subaccount) and not margin.exposures(subaccount):
        return
    risk = account_risk(subaccount, markets, bank, margin, oracle)
    if risk.free_collateral_micro_usdc < 0:
        raise InsufficientFreeCollateral(
            f"{subaccount} would keep equity {risk.equity_micro_usdc} micro-USDC against an initial requirement "
            f"of {risk.initial_micro_usdc}; move at most its free collateral")
    if stored:
        orders.require_storage_room(subaccount, risk.equity_micro_usdc)
