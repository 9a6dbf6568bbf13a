"""What the read API asks the node (through client/): markets, L2 books, the height."""

from __future__ import annotations

import time
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from client.errors import ChainRejected, ClientError, NodeUnreachable
from indexer.api.errors import ApiError

MARKETS_TTL_S = 5.0  # markets change only by governance; re-read them at most this often


class Node(Protocol):
    """The part of client.Client the API uses (tests give a fake one)."""

    def markets(self) -> list[dict[str, Any]]: ...

    def book(self, market_id: int, depth: int = 20) -> dict[str, Any]: ...

    def height(self) -> int: ...


async def ask_node(call: Any, *args: Any) -> Any:
    """Run a blocking client call off the event loop; the node's failures become the API's errors."""
    try:
        return await run_in_threadpool(call, *args)
    except NodeUnreachable as error:
        raise ApiError("node_unavailable", f"the node did not answer: {error}") from None
    except ChainRejected as error:
        raise ApiError("node_error", f"the node refused the query: {error}") from None
    except ClientError as error:
        raise ApiError("node_error", str(error)) from None


class MarketDirectory:
    """The node's markets (or its failure to give them), re-read at most every MARKETS_TTL_S;
    resolves an id or a ticker."""

    def __init__(self, node: Node, ttl_s: float = MARKETS_TTL_S) -> None:
        self.node = node
        self.ttl_s = ttl_s
        self._markets: list[dict[str, Any]] = []
        self._read_at = float("-inf")
        self._failure: ApiError | None = None  # the node's last failure, answered again until the TTL passes

    async def all(self) -> list[dict[str, Any]]:
        if time.monotonic() - self._read_at > self.ttl_s:
            try:
                self._markets, self._failure = list(await ask_node(self.node.markets)), None
            except ApiError as error:  # a node that is down is not asked again by every request
                self._failure = error
            self._read_at = time.monotonic()
        if self._failure is not None:
            raise self._failure
        return self._markets

    async def resolve(self, market: str) -> dict[str, Any]:
        """The market whose id or ticker is `market` (tickers case-insensitively); 404 unknown_market."""
        for entry in await self.all():
            if market == str(entry["market_id"]) or market.upper() == str(entry["ticker"]).upper():
                return entry
        raise ApiError("unknown_market", f"no market {market!r} (an id or a ticker of GET /v1/markets)")
