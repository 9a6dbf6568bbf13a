"""The terminal's escape-hatch screen (key e) against a real one-validator chain that anchors:
it shows the latest anchor and the trader's claimable amount, and saves the trader's proof."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Iterator

import pytest

from client import Client
from client.anchor import AnchorClient, proof_call_args
from genesis.app_state import build_app_state
from genesis.builder import consensus_pub_key, validator_address
from genesis.home import write_genesis_for
from modules.anchor.merkle import verify
from tests.harness import COMETBFT, LocalChain
from tests.tui.test_terminal import SIZE, until
from tui.app import TradingApp
from tui.screens import EscapeScreen
from wire.crypto import PrivateKey, address_to_hex, keccak256

pytestmark = pytest.mark.integration


@pytest.fixture
def anchoring_chain(tmp_path: Path) -> Iterator[LocalChain]:
    """LocalChain's one validator, with a bridge section (its own keys; no vault needed to anchor)
    and an anchor every 5 blocks."""
    if not COMETBFT.exists():
        pytest.fail(f"{COMETBFT} missing: run `make setup`")
    chain = LocalChain.create(tmp_path)
    operator, eth_key = PrivateKey.generate(), PrivateKey.generate()
    app_state = build_app_state([(address, 0, 1_000 * 1_000_000) for address in chain.funded])
    app_state["bridge"] = {"eth_chain_id": 31337, "vault": "0x" + "11" * 20, "validators": [{
        "consensus_address": validator_address(base64.b64decode(consensus_pub_key(chain.home))),
        "operator": address_to_hex(operator.address), "eth_address": address_to_hex(eth_key.address), "power": 10}]}
    app_state["anchor"] = {"interval_blocks": 5}
    write_genesis_for(chain.home, chain.chain_id, app_state)
    try:
        chain.start()
        yield chain
    finally:
        chain.stop()


def test_escape_screen_shows_the_anchor_and_saves_the_proof(anchoring_chain: LocalChain, tmp_path: Path) -> None:
    trader = anchoring_chain.keys[0]
    with Client(anchoring_chain.rpc_url) as client:
        anchoring_chain.wait_for_height(7)
        record = AnchorClient(client).status()["latest"]["record"]
    app = TradingApp(anchoring_chain.rpc_url, trader, proof_dir=tmp_path / "proofs")
    saved = tmp_path / "proofs" / f"0x{trader.address.hex()}.json"

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.connected is True, "a connection")
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, EscapeScreen), "the escape screen")
            text = lambda: str(app.screen.query_one("#escape-text").render())  # noqa: E731
            await until(pilot, lambda: "Claimable in it" in text(), "the claimable amount")
            assert "Claimable in it: 1,000.00 USDC." in text()
            assert str(saved) in text()
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, EscapeScreen), "the screen closed")

    asyncio.run(main())
    proof = json.loads(saved.read_text())
    assert int(proof["anchor"]["nonce"]) >= int(record["nonce"])
    amount, nodes = proof_call_args(proof)
    assert amount == 1_000 * 1_000_000
    assert verify(keccak256, bytes.fromhex(proof["anchor"]["balances_root"][2:]), trader.address, amount, nodes)
