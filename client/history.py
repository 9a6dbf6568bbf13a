"""The read API's history (`perpchain api`, docs/read-api.md) over HTTP: a market's candles and a
subaccount's fills and funding payments, as the indexer stored them.

Answers are the API's JSON items unchanged (prices, sizes and amounts as decimal strings). Any
failure to get an answer (no server, a timeout, an error status) raises HistoryUnavailable, so
a caller can fall back to what it sees live.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from client.errors import ClientError

MAX_PAGE = 1000  # the API's largest page


class HistoryUnavailable(ClientError):
    """The read API did not answer (or answered with an error)."""


class HistoryClient:
    """A read API at `base_url`; `http` replaces the HTTP client (tests pass Starlette's TestClient)."""

    def __init__(self, base_url: str, timeout_s: float = 3.0, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def __enter__(self) -> "HistoryClient":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            answer = self.http.get(path, params=params)
        except httpx.HTTPError as error:
            raise HistoryUnavailable(f"{self.base_url}: {error or type(error).__name__}") from error
        if answer.status_code != 200:
            try:
                detail = answer.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                detail = answer.text[:200]
            raise HistoryUnavailable(f"{self.base_url}{path}: HTTP {answer.status_code}: {detail}")
        return answer.json()

    def indexed_height(self) -> int:
        """The last block the indexer stored whole (0: none yet)."""
        return int(self._get("/v1/status")["indexed_height"])

    def candles(self, market_id: int, resolution: str, from_ms: int, pages: int = 4) -> list[dict[str, Any]]:
        """The market's candles of `resolution` (1m, 5m, 1h, 1d) starting at or after `from_ms`,
        oldest first; at most `pages` pages of MAX_PAGE."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"resolution": resolution, "from": from_ms, "limit": MAX_PAGE}
        for _ in range(pages):
            page = self._get(f"/v1/markets/{market_id}/candles", params)
            items.extend(page["items"])
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        return items

    def fills(self, address: str, number: int, limit: int = 100) -> list[dict[str, Any]]:
        """The subaccount's latest `limit` fills, newest first."""
        return list(self._get(f"/v1/subaccounts/{address}/{number}/fills", {"limit": limit})["items"])

    def funding(self, address: str, number: int, limit: int = 100) -> list[dict[str, Any]]:
        """The subaccount's latest `limit` funding payments, newest first."""
        return list(self._get(f"/v1/subaccounts/{address}/{number}/funding", {"limit": limit})["items"])
