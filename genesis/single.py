"""A one-validator home: `perpchain genesis`. Localnet builds N of these with shared genesis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genesis.app_state import build_app_state
from genesis.home import BlockTiming, NodePorts, configure, init_home, write_genesis_for


def write_single_validator_home(
    cometbft: Path,
    home: Path,
    chain_id: str,
    port_base: int,
    funds: list[tuple[str, int, int]],
    faucet_key: Path | None = None,
    faucet_usdc: int = 0,
    timeout_commit_ms: int = 200,
) -> dict[str, Any]:
    from client.keys import load_key, save_key
    from wire.crypto import PrivateKey, address_to_hex

    funds = list(funds)
    if faucet_key is not None:
        if not faucet_key.exists():
            save_key(PrivateKey.generate(), faucet_key)
        funds.append((address_to_hex(load_key(faucet_key).address), 0, faucet_usdc))
    ports = NodePorts.from_base(port_base)
    init_home(cometbft, home)
    write_genesis_for(home, chain_id, build_app_state(funds))
    configure(home, ports, BlockTiming(timeout_commit_ms=timeout_commit_ms))
    return {
        "home": str(home),
        "chain_id": chain_id,
        "rpc": f"http://127.0.0.1:{ports.rpc}",
        "abci": f"tcp://127.0.0.1:{ports.abci}",
        "funded": [{"address": a, "subaccount": n, "amount_micro_usdc": str(m)} for a, n, m in funds],
    }
