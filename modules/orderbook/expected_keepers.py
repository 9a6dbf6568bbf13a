"""What orderbook needs from other modules' keepers, as narrow interfaces (Cosmos'
expected_keepers.go): the keeper is handed these (modules/keepers.py wires them) and builds none."""

from __future__ import annotations

from typing import Iterator, Protocol

from modules.margin.types import Holdings, Position
from modules.markets.types import Market
from modules.oracle.types import OraclePrice
from modules.types import SubaccountId


class Markets(Protocol):
    def market(self, market_id: int) -> Market: ...

    def markets(self) -> Iterator[Market]: ...


class Oracle(Protocol):
    def price(self, market_id: int) -> OraclePrice | None: ...

    def is_stale(self, market_id: int, height: int) -> bool: ...


class Bank(Protocol):
    def balance(self, subaccount: SubaccountId) -> int: ...

    def settle(self, subaccount: SubaccountId, delta_micro_usdc: int) -> None: ...


class Funding(Protocol):
    def index(self, market_id: int) -> int: ...

    def add_to_pool(self, amount_micro_usdc: int) -> None: ...


class Margin(Protocol):
    def holdings(self, subaccount: SubaccountId) -> Holdings: ...

    def position(self, subaccount: SubaccountId, market_id: int) -> Position: ...

    def positions(self, subaccount: SubaccountId) -> list[Position]: ...

    def set_position(self, position: Position) -> None: ...

    def open_interest_lots_x2(self, market_id: int) -> int: ...

    def add_exposure(self, subaccount: SubaccountId, market_id: int, bid_lots: int, ask_lots: int) -> None: ...
