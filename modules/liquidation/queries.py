"""liquidation's abci_query answers (docs/queries.md): /liquidation/status (the insurance fund
and the index), /liquidation/at_risk/<n> (the subaccounts nearest liquidation),
/liquidation/history/<n> (the latest liquidations)."""

from __future__ import annotations

from typing import Any

from modules.bank.keeper import BankKeeper
from modules.integers import parse_uint
from modules.liquidation.index import LiquidationHistory, LiquidationIndex
from modules.margin.keeper import MarginKeeper
from modules.margin.risk import account_risk
from modules.markets.keeper import MarketsKeeper
from modules.oracle.keeper import OracleKeeper
from modules.queries import BadQueryArgument, QueryContext
from modules.types import INSURANCE_FUND


def liquidation(q: QueryContext, args: list[str]) -> dict[str, Any]:
    store = q.store
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
