"""JSON-RPC to CometBFT over HTTP; the httpx transport is the seam tests may swap."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from client.errors import NodeUnreachable, RpcError


class RpcClient:
    def __init__(self, url: str, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, transport=transport)
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            response = self._http.post("/", json=body)
        except httpx.TransportError as exc:
            raise NodeUnreachable(f"{self.url}: {exc}") from None
        try:
            reply = response.json()
        except ValueError:
            raise RpcError(f"{method}: HTTP {response.status_code}, not JSON") from None
        if "error" in reply:
            error = reply["error"]
            raise RpcError(f"{method}: {error.get('message', '')} {error.get('data', '')}".strip())
        result: dict[str, Any] = reply["result"]  # CometBFT answers every method with an object
        return result

    def close(self) -> None:
        self._http.close()
