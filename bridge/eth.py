"""A local Ethereum node (anvil, from npm @foundry-rs/anvil) and deployment of the bridge with web3.py
(client/eth.py sends the transactions).

    with Anvil() as node:                       # free loopback port, chain id 31337
        w3 = node.web3()
        bridge = deploy_bridge(w3, deployer=node.accounts[0].checksum, validators=[...],
                               powers=[...], mint={node.accounts[1].address: 1_000_000_000})

`python -m bridge.eth` runs one with the bridge deployed until Ctrl-C. Deployment sends from an
account the node has unlocked (anvil's own), which is what a localnet and the tests need; nothing
here holds a key for a public network.
"""

from __future__ import annotations

import json
import platform
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint, TxReceipt

from client.artifacts import ROOT, load_artifact
from client.eth import TransactionFailed, connect, mined, transact
from wire.crypto import PrivateKey

ANVIL_CHAIN_ID = 31337
# Seconds without an anchor before anyone may freeze the vault: a week, as StarkEx does. A
# localnet passes a few seconds instead.
DEFAULT_FREEZE_PERIOD_S = 7 * 24 * 3600
# anvil's and Hardhat's well-known development mnemonic: its keys are public, never fund them.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
_PLATFORM_PACKAGES = {
    ("Linux", "x86_64"): "anvil-linux-amd64",
    ("Linux", "aarch64"): "anvil-linux-arm64",
    ("Darwin", "x86_64"): "anvil-darwin-amd64",
    ("Darwin", "arm64"): "anvil-darwin-arm64",
}


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or stopped answering."""


def anvil_binary() -> Path:
    """The native anvil from npm: node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil.

    Falls back to node_modules/.bin/anvil (a Node wrapper that spawns the same binary).
    """
    package = _PLATFORM_PACKAGES.get((platform.system(), platform.machine()))
    candidates = [ROOT / "node_modules" / ".bin" / "anvil"]
    if package is not None:
        candidates.insert(0, ROOT / "node_modules" / "@foundry-rs" / package / "bin" / "anvil")
    for path in candidates:
        if path.is_file():
            return path
    raise AnvilError(f"anvil not found under {ROOT / 'node_modules'}: run `make setup` (npm ci)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class DevAccount:
    """An account anvil funds with 10,000 ETH and unlocks."""

    key: PrivateKey

    @property
    def address(self) -> bytes:
        return self.key.address

    @property
    def checksum(self) -> ChecksumAddress:
        return Web3.to_checksum_address(self.address)


class Anvil:
    """One anvil process on 127.0.0.1, started by `start()` or `with`, stopped by `stop()`."""

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int = ANVIL_CHAIN_ID,
        accounts: int = 10,
        mnemonic: str = DEV_MNEMONIC,
        block_time_s: int | None = None,
        log_path: Path | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.chain_id = chain_id
        self._requested_port = port
        self._account_count = accounts
        self._mnemonic = mnemonic
        self._block_time_s = block_time_s
        self._log_path = log_path
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0
        self.accounts: list[DevAccount] = []

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def web3(self) -> Web3:
        return connect(self.rpc_url)

    def start(self) -> Anvil:
        if self.running:
            return self
        # A port picked by free_port() can be taken before anvil binds it: try a few.
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            self.port = self._requested_port or free_port()
            try:
                self._spawn_and_wait()
                return self
            except AnvilError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn_and_wait(self) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="perpchain-anvil-")
        workdir = Path(self._workdir.name)
        config_path = workdir / "anvil.json"
        log_path = self._log_path or workdir / "anvil.log"
        command = [
            str(anvil_binary()),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self._account_count),
            "--mnemonic", self._mnemonic,
            "--config-out", str(config_path),
        ]  # fmt: skip
        if self._block_time_s is not None:
            command += ["--block-time", str(self._block_time_s)]
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self._startup_timeout_s
        while True:
            if self._process.poll() is not None:
                raise AnvilError(f"anvil exited with {self._process.returncode}:\n{_tail(log_path)}")
            if self._answers() and config_path.is_file():
                break
            if time.monotonic() > deadline:
                raise AnvilError(f"anvil did not answer on {self.rpc_url} in {self._startup_timeout_s} s")
            time.sleep(0.05)
        config = json.loads(config_path.read_text())
        self.accounts = [DevAccount(PrivateKey.from_hex(key)) for key in config["private_keys"]]

    def _answers(self) -> bool:
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        try:
            reply = httpx.post(self.rpc_url, json=body, timeout=1.0)
            return int(reply.json()["result"], 16) == self.chain_id
        except (httpx.HTTPError, ValueError, KeyError):
            return False


def anvil_rpc(w3: Web3, method: str, *params: Any) -> Any:
    """The result of one of anvil's own JSON-RPC methods (anvil_setBalance, evm_mine, evm_increaseTime, ...)."""
    reply = w3.provider.make_request(RPCEndpoint(method), list(params))
    if "error" in reply:
        raise AnvilError(f"{method}: {reply['error']}")
    return reply.get("result")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------- deployment


@dataclass(frozen=True)
class BridgeDeployment:
    """The deployed TestUSDC and Vault as web3.py contract objects."""

    chain_id: int
    token: Contract
    vault: Contract

    @property
    def vault_address(self) -> bytes:
        return bytes.fromhex(self.vault.address[2:])


def deploy_contract(w3: Web3, name: str, *args: Any, sender: str) -> Contract:
    """Deploy the compiled contract `name` with constructor `args`."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = mined(w3, factory.constructor(*args).transact({"from": sender}))
    if receipt["contractAddress"] is None:
        raise TransactionFailed(f"deploying {name} created no contract (tx 0x{bytes(receipt['transactionHash']).hex()})")
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def deploy_bridge(
    w3: Web3,
    *,
    deployer: str,
    validators: Sequence[bytes],
    powers: Sequence[int],
    bonds: Sequence[int] | None = None,
    mint: Mapping[bytes, int] | None = None,
    token: Contract | None = None,
    freeze_period_s: int = DEFAULT_FREEZE_PERIOD_S,
) -> BridgeDeployment:
    """Deploy TestUSDC (unless `token` is given) and a Vault for (validators, powers) holding each
    validator's genesis bond (`bonds`, micro-USDC, none by default), then mint `mint[address]`
    micro-USDC to each address and the bonds' sum into the vault, as genesis balances are backed.
    Validators are sorted by address here, as the vault requires."""
    ordered = sorted(zip(validators, powers, bonds if bonds is not None else [0] * len(validators), strict=True))
    if token is None:
        token = deploy_contract(w3, "TestUSDC", sender=deployer)
    vault = deploy_contract(
        w3,
        "Vault",
        token.address,
        [Web3.to_checksum_address(address) for address, _, _ in ordered],
        [power for _, power, _ in ordered],
        [bond for _, _, bond in ordered],
        freeze_period_s,
        sender=deployer,
    )
    bonded = sum(bond for _, _, bond in ordered)
    for address, amount in (mint or {}).items():
        transact(w3, token.functions.mint(Web3.to_checksum_address(address), amount), deployer)
    if bonded:
        transact(w3, token.functions.mint(vault.address, bonded), deployer)
    return BridgeDeployment(chain_id=w3.eth.chain_id, token=token, vault=vault)


def cover_withdrawals(w3: Web3, deployment: BridgeDeployment, keys: Sequence[PrivateKey], through_id: int,
                      total_micro_usdc: int, sender: str) -> TxReceipt:
    """An anchor without balances, signed by `keys`, that covers withdrawals 1..`through_id` of up
    to `total_micro_usdc` in all (the vault pays a withdrawal only once an anchor covers it): for
    tests and gas figures on a vault without a chain behind it."""
    from modules.anchor.types import AnchorRecord
    from wire.anchor import NO_BOND_DEBITS_HASH, anchor_digest, vault_record
    from wire.vault import sign_quorum

    f = deployment.vault.functions
    record = AnchorRecord(nonce=f.anchorNonce().call() + 1, chain_id="perpchain-test", height=0, app_hash=bytes(32),
                          balances_root=bytes(32), total_claimable_micro_usdc=0,
                          deposit_nonce=f.lastDepositNonce().call(), withdrawal_id=through_id,
                          withdrawn_total_micro_usdc=total_micro_usdc, bond_debits_hash=NO_BOND_DEBITS_HASH,
                          leaf_count=0, time_ms=0)
    sigs = sign_quorum(keys, anchor_digest(deployment.chain_id, deployment.vault_address, record))
    return transact(w3, f.anchor(vault_record(record), sigs, []), sender)


def _serve() -> None:
    """`python -m bridge.eth`: an anvil with the bridge deployed (4 validators), until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with Anvil() as node:
        keys = [account.key for account in node.accounts[:4]]
        deployment = deploy_bridge(
            node.web3(), deployer=node.accounts[0].checksum, validators=[k.address for k in keys], powers=[1] * 4
        )
        print(f"anvil    {node.rpc_url} (chain id {node.chain_id})")
        print(f"TestUSDC {deployment.token.address}\nVault    {deployment.vault.address}", flush=True)
        while node.running and not stop.wait(0.5):
            pass


if __name__ == "__main__":
    _serve()
