"""A resumed localnet's Ethereum clock goes on from its last block, not from the wall clock, so a
localnet stopped for longer than the vault's freeze period does not come back frozen."""

from __future__ import annotations

from bridge.eth import Anvil, anvil_rpc
from bridge.localnet import resume_clock


def test_a_resumed_clock_continues_from_the_last_block(anvil: Anvil) -> None:
    w3 = anvil.web3()
    anvil_rpc(w3, "evm_mine")
    stopped_at = int(w3.eth.get_block("latest")["timestamp"])
    anvil_rpc(w3, "evm_increaseTime", 86_400)  # a night passes while the localnet is down
    resume_clock(anvil.rpc_url)
    anvil_rpc(w3, "evm_mine")
    assert stopped_at < int(w3.eth.get_block("latest")["timestamp"]) <= stopped_at + 5
