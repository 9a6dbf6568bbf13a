"""CometBFT websocket event subscriptions that reconnect by themselves."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, AsyncIterator

import websockets

from client.errors import ClientError

log = logging.getLogger("perpchain.client.events")


class SubscriptionRefused(ClientError):
    """The node refused the subscription itself (bad query, too many subscriptions)."""


class _StreamLost(Exception):
    """The node cancelled a subscription it had accepted (e.g. it is shutting down)."""


def websocket_url(rpc_url: str) -> str:
    return rpc_url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://") + "/websocket"


async def subscribe(
    rpc_url: str, query: str, reconnect_delay_s: float = 0.5, max_delay_s: float = 5.0
) -> AsyncIterator[dict[str, Any]]:
    """Yield each event's `result` for `query` (e.g. "tm.event='NewBlock'"), forever.

    A dropped connection is retried with exponential backoff and the subscription renewed;
    events published while disconnected are not replayed (read them from blocks if needed).
    """
    delay = reconnect_delay_s
    url = websocket_url(rpc_url)
    while True:
        try:
            async with websockets.connect(url, max_size=64 * 1024 * 1024) as socket:
                await socket.send(
                    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"query": query}})
                )
                confirmed = False
                async for message in socket:
                    reply = json.loads(message)
                    if "error" in reply:
                        if not confirmed:
                            raise SubscriptionRefused(f"{query!r}: {reply['error']}")
                        raise _StreamLost(reply["error"].get("data") or reply["error"])
                    confirmed = True
                    delay = reconnect_delay_s
                    result = reply.get("result") or {}
                    if result.get("data") is not None:
                        yield result
        except (OSError, websockets.ConnectionClosed, asyncio.TimeoutError, _StreamLost) as exc:
            log.warning("event stream %s lost (%s); reconnecting in %.1fs", url, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
