"""Fixtures for the bridge: one real anvil per session (free loopback port, stopped after), and a
freshly deployed TestUSDC + Vault per test, governed by four validator keys, stocked with 10,000
USDC and an anchor that lets withdrawals 1..1,000 take it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.types import TxReceipt

from bridge.config import RelayerConfig
from bridge.contracts import build
from bridge.eth import Anvil, AnvilError, BridgeDeployment, DevAccount, cover_withdrawals, deploy_bridge
from client.artifacts import ArtifactsMissing
from client.eth import decode_custom_error, transact
from wire import vault as digests
from wire.crypto import PrivateKey, keccak256

USDC = 1_000_000  # micro-USDC per USDC


def validator_keys(count: int, label: str = "validator") -> list[PrivateKey]:
    """Deterministic keys, sorted by address as the vault wants its set and its signers."""
    keys = [PrivateKey(keccak256(f"{label}-{i}".encode())) for i in range(count)]
    return sorted(keys, key=lambda key: key.address)


def offline_config(confirmations: int = 3, backup_delay_ms: int = 3000) -> RelayerConfig:
    """A relayer's config naming no reachable node, vault or key file: for a relayer beside stand-ins."""
    nowhere = Path("/nonexistent")
    return RelayerConfig("http://127.0.0.1:1", "http://127.0.0.1:1", "0x" + "00" * 20, nowhere, nowhere, nowhere,
                         confirmations=confirmations, backup_delay_ms=backup_delay_ms)


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    try:
        build()  # no-op when .gen/contracts matches the sources
        node = Anvil().start()
    except (ArtifactsMissing, AnvilError) as exc:
        pytest.fail(f"{exc}")
    try:
        yield node
    finally:
        node.stop()


@dataclass
class VaultSetup:
    """A deployed bridge and the people around it."""

    w3: Web3
    token: Contract
    vault: Contract
    chain_id: int
    deployer: DevAccount
    user: DevAccount  # holds 1,000 USDC, deposits
    recipient: DevAccount  # receives withdrawals
    validators: list[PrivateKey]
    powers: list[int] = field(default_factory=list)

    @property
    def vault_address(self) -> bytes:
        return bytes.fromhex(self.vault.address[2:])

    def balance(self, account: DevAccount | str) -> int:
        address = account.checksum if isinstance(account, DevAccount) else account
        return self.token.functions.balanceOf(address).call()

    def withdrawal_digest(self, withdrawal_id: int, recipient: bytes, amount: int) -> bytes:
        return digests.withdrawal_digest(self.chain_id, self.vault_address, withdrawal_id, recipient, amount)

    def sign_withdrawal(
        self, withdrawal_id: int, recipient: bytes, amount: int, keys: Sequence[PrivateKey] | None = None
    ) -> list[tuple[bytes, bytes, int]]:
        digest = self.withdrawal_digest(withdrawal_id, recipient, amount)
        return digests.sign_quorum(self.validators if keys is None else keys, digest)

    def withdraw(self, withdrawal_id: int, recipient: bytes, amount: int, sigs: list[Any]) -> TxReceipt:
        call = self.vault.functions.withdraw(withdrawal_id, Web3.to_checksum_address(recipient), amount, sigs)
        return transact(self.w3, call, self.user.checksum)

    def cover_withdrawals(self, through_id: int, total_micro_usdc: int) -> TxReceipt:
        """An anchor without balances that covers withdrawals 1..`through_id` of up to
        `total_micro_usdc` in all: the vault pays a withdrawal only once an anchor covers it."""
        return cover_withdrawals(self.w3, BridgeDeployment(self.chain_id, self.token, self.vault), self.validators,
                                 through_id, total_micro_usdc, self.user.checksum)

    def approve_and_deposit(self, amount: int, recipient: bytes, subaccount: int) -> TxReceipt:
        transact(self.w3, self.token.functions.approve(self.vault.address, amount), self.user.checksum)
        call = self.vault.functions.deposit(amount, Web3.to_checksum_address(recipient), subaccount)
        return transact(self.w3, call, self.user.checksum)


def deploy(anvil: Anvil, validators: list[PrivateKey], powers: list[int], token: Contract | None = None) -> VaultSetup:
    w3 = anvil.web3()
    deployer, user, recipient = anvil.accounts[0], anvil.accounts[1], anvil.accounts[2]
    deployment = deploy_bridge(
        w3,
        deployer=deployer.checksum,
        validators=[key.address for key in validators],
        powers=powers,
        mint={user.address: 1_000 * USDC} if token is None else None,
        token=token,
    )
    setup = VaultSetup(
        w3, deployment.token, deployment.vault, deployment.chain_id, deployer, user, recipient, validators, powers
    )
    if token is None:  # stock the vault, and anchor that stock as withdrawals 1..1,000 may take it
        transact(w3, deployment.token.functions.mint(deployment.vault.address, 10_000 * USDC), deployer.checksum)
        setup.cover_withdrawals(1_000, 10_000 * USDC)
    return setup


@pytest.fixture
def bridge(anvil: Anvil) -> VaultSetup:
    """TestUSDC + Vault with four validators of power 1 each (quorum: 3 of them)."""
    return deploy(anvil, validator_keys(4), [1, 1, 1, 1])


@contextmanager
def reverts(contract: Contract, error: str) -> Iterator[list[tuple[Any, ...]]]:
    """Expect `contract`'s custom error `error`; yields a list that receives its arguments."""
    arguments: list[tuple[Any, ...]] = []
    with pytest.raises(ContractCustomError) as caught:
        yield arguments
    name, args = decode_custom_error(contract.abi, caught.value)
    assert name == error, f"reverted with {name}{args}, expected {error}"
    arguments.append(args)
