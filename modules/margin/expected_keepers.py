"""What margin's risk reads from other modules, and from its own records, as narrow interfaces
(any keeper with these methods will do: the orderbook hands in the ones it was given)."""

from __future__ import annotations

from typing import Protocol

from modules.margin.types import Holdings
from modules.markets.types import Market
from modules.oracle.types import OraclePrice
from modules.types import SubaccountId


class Markets(Protocol):
    def market(self, market_id: int) -> Market: ...


class Bank(Protocol):
    def balance(self, subaccount: SubaccountId) -> int: ...


class Prices(Protocol):
    def price(self, market_id: int) -> OraclePrice | None: ...


class FundingIndex(Protocol):
    def index(self, market_id: int) -> int: ...


class Records(Protocol):
    """margin's own keeper, as risk reads it."""

    def holdings(self, subaccount: SubaccountId) -> Holdings: ...

    def open_interest_lots_x2(self, market_id: int) -> int: ...


class StoredOrders(Protocol):
    """The orderbook, as what a subaccount keeps stored (orders, conditionals, TWAPs) and its
    storage tier."""

    def stored_obligations(self, owner: SubaccountId) -> int: ...

    def require_storage_room(self, owner: SubaccountId, equity_micro_usdc: int) -> None: ...
