"""margin's abci_query answer (docs/queries.md): /positions/<address>/<number> -> positions,
collateral, equity and margin requirements."""

from __future__ import annotations

from typing import Any

from modules.bank.keeper import BankKeeper
from modules.funding.keeper import FundingKeeper
from modules.margin.funding_settlement import settled_view
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk, liquidation_price
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.oracle.update import margin_price
from modules.queries import QueryContext, address, subaccount_number
from modules.types import SubaccountId


def positions(q: QueryContext, args: list[str]) -> dict[str, Any]:
    """Positions with funding settled into the cost (as every margin check sees them)."""
    owner = SubaccountId(address(args[0]), subaccount_number(args[1]))
    markets, margin, bank = MarketsKeeper(q.store), MarginKeeper(q.store), BankKeeper(q.store)
    funding, oracle = FundingKeeper(q.store), OracleKeeper(q.store)
    risk = account_risk(owner, markets, bank, margin, oracle)
    held, gross = [], 0
    for stored in margin.positions(owner):
        position = settled_view(stored, funding)
        market = markets.market(position.market_id)
        price = margin_price(oracle, market.market_id, market.reference_price)
        size = position.size_lots * market.step_size
        gross += abs(size) * price // 10**market.size_decimals
        held.append({
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
            "collateral_micro_usdc": str(bank.balance(owner)), "positions": held,
            "equity_micro_usdc": str(risk.equity_micro_usdc),
            "initial_margin_micro_usdc": str(risk.initial_micro_usdc),
            "maintenance_margin_micro_usdc": str(risk.maintenance_micro_usdc),
            "free_collateral_micro_usdc": str(risk.free_collateral_micro_usdc),
            "leverage_bp": gross * 10_000 // risk.equity_micro_usdc if risk.equity_micro_usdc > 0 else None}


def _optional(value: int | None) -> str | None:
    return str(value) if value is not None else None
