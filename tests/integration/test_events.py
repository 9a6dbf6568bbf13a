"""client.subscribe: transfer events over CometBFT's websocket, surviving a node restart."""

from __future__ import annotations

import asyncio
import threading

import pytest

from client import SubaccountId, subscribe
from tests.harness import LocalChain

pytestmark = pytest.mark.integration


def test_subscription_delivers_transfer_events_and_reconnects_after_a_restart(chain: LocalChain) -> None:
    alice, bob, _ = chain.keys
    recipient = "0x" + bob.address.hex()
    seen: list[str] = []

    async def collect(count: int) -> None:
        stream = subscribe(chain.rpc_url, f"tm.event='Tx' AND transfer.recipient='{recipient}'", reconnect_delay_s=0.2)
        async for result in stream:
            seen.extend(result["events"]["transfer.amount_micro_usdc"])
            if len(seen) >= count:
                return

    worker = threading.Thread(target=lambda: asyncio.run(asyncio.wait_for(collect(2), 60)))
    worker.start()
    with chain.client() as client:
        chain.wait_for_height(client.height() + 2)  # let the subscription settle
        client.transfer(alice, SubaccountId(bob.address, 0), 111)
        chain.stop_cometbft()
        chain.start_cometbft()
        restarted_at = chain.wait_for_height(1)
        chain.wait_for_height(restarted_at + 3)
        for _ in range(40):  # the subscription renews itself within its backoff
            client.transfer(alice, SubaccountId(bob.address, 0), 222)
            worker.join(timeout=0.5)
            if not worker.is_alive():
                break
    worker.join(timeout=5)
    assert seen[0] == "111" and seen[1] == "222"


def test_a_query_the_node_refuses_raises_instead_of_retrying_forever(chain: LocalChain) -> None:
    from client import SubscriptionRefused

    async def first_event() -> None:
        async for _ in subscribe(chain.rpc_url, "tm.event = = 'Tx'"):
            return

    with pytest.raises(SubscriptionRefused):
        asyncio.run(asyncio.wait_for(first_event(), 20))
