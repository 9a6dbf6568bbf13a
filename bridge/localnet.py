"""The bridge of a localnet: keys and genesis section at creation, anvil + deployment + one relayer
per validator under the supervisor. Everything lives under <root>/bridge:

    bridge.json              anvil port, vault and token addresses, what to mint at deployment
    anvil-state.json         anvil's chain, dumped on exit and every second, loaded on restart
    operator<i>.keystore.json  validator i's operator key (signs claims, signatures, key changes),
                             encrypted; operator<i>.password beside it
    eth<i>.keystore.json     validator i's Ethereum key, encrypted; eth<i>.password beside it
    relayer<i>.json          relayer i's config; relayer<i>/ its state (cursor, pending deposits)

The chain anchors its balances every ANCHOR_INTERVAL_BLOCKS; the vault freezes after
FREEZE_PERIOD_S without an anchor (docs/anchoring.md). A resumed localnet's Ethereum clock goes on
from where it stopped (`resume_clock`), so a night's stop does not freeze its vault.

Deployment is deterministic: anvil's first dev account deploys TestUSDC (its nonce 0) and then the
Vault (nonce 1), so the vault address is known when the genesis is written.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config import save_keystore
from client.keys import save_encrypted_key
from wire.crypto import PrivateKey, address_to_hex

ANVIL_CHAIN_ID = 31337
ETH_FOR_GAS_WEI = 100 * 10**18
CONFIRMATIONS = 2
# Anchors every 20 blocks (a few seconds at localnet block times); the vault may be frozen after a
# minute without one: seconds on a localnet, days on a real network (docs/anchoring.md).
ANCHOR_INTERVAL_BLOCKS = 20
FREEZE_PERIOD_S = 60
LOCALNET_SCRYPT_N = 2**14  # keystores decrypted at every relayer start: fast on a localnet, weak elsewhere


def anchor_section() -> dict[str, Any]:
    """The genesis `anchor` section of a localnet with a bridge."""
    return {"interval_blocks": ANCHOR_INTERVAL_BLOCKS}


def _dev_deployer() -> PrivateKey:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    from bridge.eth import DEV_MNEMONIC

    return PrivateKey(bytes(Account.from_mnemonic(DEV_MNEMONIC, account_path="m/44'/60'/0'/0/0").key))


def _create_address(deployer: bytes, nonce: int) -> bytes:
    from web3 import Web3
    from web3.types import Nonce
    from web3.utils.address import get_create_address

    return bytes.fromhex(get_create_address(Web3.to_checksum_address(deployer), Nonce(nonce))[2:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalBridge:
    """A localnet's bridge files."""

    root: Path  # <localnet root>/bridge

    @property
    def settings_file(self) -> Path:
        return self.root / "bridge.json"

    def settings(self) -> dict[str, Any]:
        return dict(json.loads(self.settings_file.read_text()))

    @property
    def eth_rpc(self) -> str:
        return f"http://127.0.0.1:{self.settings()['anvil_port']}"

    def relayer_config(self, index: int) -> Path:
        return self.root / f"relayer{index}.json"

    def relayer_state_dir(self, index: int) -> Path:
        return self.root / f"relayer{index}"

    @classmethod
    def of(cls, localnet_root: Path) -> "LocalBridge | None":
        bridge = cls(localnet_root / "bridge")
        return bridge if bridge.settings_file.exists() else None


def password_file(path: Path) -> str:
    """A fresh random password, written to `path` (mode 600) for the relayer to read."""
    password = secrets.token_hex(16)
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(password + "\n")
    return password


def create(localnet_root: Path, node_rpcs: list[str], consensus_addresses: list[str], powers: list[int],
           bonds_micro_usdc: list[int], faucet: bytes, faucet_usdc: int,
           genesis_backing_micro_usdc: int) -> dict[str, Any]:
    """Write keys, relayer configs and bridge.json; return the genesis `bridge` section. Each
    validator's genesis bond (`bonds_micro_usdc`, as staking's genesis gives it) is held by the
    vault from its deployment."""
    root = localnet_root / "bridge"
    root.mkdir(parents=True, exist_ok=True)
    deployer = _dev_deployer()
    vault = _create_address(deployer.address, 1)
    anvil_port = _free_port()
    validators, relayers = [], []
    for i, (rpc, consensus, power) in enumerate(zip(node_rpcs, consensus_addresses, powers, strict=True)):
        operator, eth_key = PrivateKey.generate(), PrivateKey.generate()
        save_encrypted_key(operator, root / f"operator{i}.keystore.json",
                           password_file(root / f"operator{i}.password"), overwrite=True, scrypt_n=LOCALNET_SCRYPT_N)
        save_keystore(eth_key, root / f"eth{i}.keystore.json", password_file(root / f"eth{i}.password"),
                      scrypt_n=LOCALNET_SCRYPT_N)
        validators.append({"consensus_address": consensus, "operator": address_to_hex(operator.address),
                           "eth_address": address_to_hex(eth_key.address), "power": power})
        relayers.append(address_to_hex(eth_key.address))
        (root / f"relayer{i}.json").write_text(json.dumps({
            "node_rpc": rpc, "eth_rpc": f"http://127.0.0.1:{anvil_port}", "vault": address_to_hex(vault),
            "confirmations": CONFIRMATIONS, "state_dir": f"relayer{i}", "perpchain_key": f"operator{i}.keystore.json",
            "perpchain_password_file": f"operator{i}.password",
            "eth_keystore": f"eth{i}.keystore.json", "eth_password_file": f"eth{i}.password",
            "listen": "127.0.0.1:0", "poll_interval_ms": 200, "backup_delay_ms": 2000}, indent=2) + "\n")
    settings = {"anvil_port": anvil_port, "chain_id": ANVIL_CHAIN_ID, "deployer": address_to_hex(deployer.address),
                "token": address_to_hex(_create_address(deployer.address, 0)), "vault": address_to_hex(vault),
                "validators": [v["eth_address"] for v in validators], "powers": powers, "bonds": bonds_micro_usdc,
                "faucet": address_to_hex(faucet), "faucet_usdc": faucet_usdc,
                "genesis_backing_micro_usdc": genesis_backing_micro_usdc, "relayer_eth_addresses": relayers,
                "freeze_period_s": FREEZE_PERIOD_S}
    (root / "bridge.json").write_text(json.dumps(settings, indent=2) + "\n")
    return {"eth_chain_id": ANVIL_CHAIN_ID, "vault": address_to_hex(vault), "validators": validators}


def anvil_argv(bridge: LocalBridge) -> list[str]:
    from bridge.eth import DEV_MNEMONIC, anvil_binary

    return [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(bridge.settings()["anvil_port"]),
            "--chain-id", str(ANVIL_CHAIN_ID), "--accounts", "2", "--mnemonic", DEV_MNEMONIC,
            "--state", str(bridge.root / "anvil-state.json"), "--state-interval", "1", "--block-time", "1"]


def wait_for_anvil(bridge: LocalBridge, timeout_s: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    while True:
        try:
            if int(httpx.post(bridge.eth_rpc, json=body, timeout=1.0).json()["result"], 16) == ANVIL_CHAIN_ID:
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"anvil did not answer on {bridge.eth_rpc} in {timeout_s} s")
        time.sleep(0.05)


def resume_clock(eth_rpc: str) -> None:
    """Continue Ethereum's clock from the last block anvil reloaded, not from the wall clock: the
    vault freezes FREEZE_PERIOD_S after its last anchor, so a localnet stopped for longer would
    otherwise come back frozen. On a localnet the chain and its Ethereum stop together."""
    import httpx

    def rpc(method: str, params: list[object]) -> object:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return httpx.post(eth_rpc, json=body, timeout=5.0).json()["result"]

    latest = rpc("eth_getBlockByNumber", ["latest", False])
    assert isinstance(latest, dict)
    rpc("anvil_setTime", [int(latest["timestamp"], 16) + 1])


def deploy_once(bridge: LocalBridge) -> bool:
    """Deploy TestUSDC + Vault unless anvil's state already has them; True if deployed now. The vault
    holds the genesis bonds; mints the faucet its USDC on Ethereum and the vault the genesis bonds
    and the genesis balances' backing, and gives the faucet and every relayer ETH for gas."""
    from web3 import Web3

    from bridge.eth import anvil_rpc, deploy_bridge
    from client.eth import connect, transact

    settings = bridge.settings()
    w3 = connect(bridge.eth_rpc)
    if w3.eth.get_code(Web3.to_checksum_address(settings["vault"])):
        return False
    deployer = Web3.to_checksum_address(settings["deployer"])
    if w3.eth.get_transaction_count(deployer) != 0:
        raise RuntimeError("anvil's deployer has sent transactions but no vault exists: reset the localnet")
    deployment = deploy_bridge(w3, deployer=deployer, validators=[bytes.fromhex(v[2:]) for v in settings["validators"]],
                               powers=settings["powers"], bonds=settings["bonds"],
                               mint={bytes.fromhex(settings["faucet"][2:]): settings["faucet_usdc"] * 1_000_000},
                               freeze_period_s=settings.get("freeze_period_s", FREEZE_PERIOD_S))
    if deployment.vault.address.lower() != settings["vault"]:
        raise RuntimeError(f"the vault deployed at {deployment.vault.address}, the genesis expects {settings['vault']}")
    backing = settings["genesis_backing_micro_usdc"]
    if backing:
        transact(w3, deployment.token.functions.mint(deployment.vault.address, backing), deployer)
    for address in [settings["faucet"], *settings["relayer_eth_addresses"]]:
        anvil_rpc(w3, "anvil_setBalance", Web3.to_checksum_address(address), hex(ETH_FOR_GAS_WEI))
    return True


def fund_on_ethereum(bridge: LocalBridge, address: bytes, usdc: int) -> None:
    """Give `address` ETH for gas and, while it holds none, `usdc` TestUSDC on the localnet's anvil
    (the deployer owns TestUSDC and anvil signs for its dev accounts): a trader can deposit."""
    from web3 import Web3

    from bridge.eth import anvil_rpc
    from client.eth import connect, contract_at, transact

    settings = bridge.settings()
    w3 = connect(bridge.eth_rpc)
    who = Web3.to_checksum_address(address)
    anvil_rpc(w3, "anvil_setBalance", who, hex(ETH_FOR_GAS_WEI))
    vault = contract_at(w3, "Vault", settings["vault"])
    token = contract_at(w3, "TestUSDC", vault.functions.token().call())
    if token.functions.balanceOf(who).call() == 0:
        transact(w3, token.functions.mint(who, usdc * 1_000_000), Web3.to_checksum_address(settings["deployer"]))
