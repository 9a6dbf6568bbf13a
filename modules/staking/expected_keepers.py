"""What staking needs from outside the module, as narrow interfaces (Cosmos' expected_keepers.go)."""

from __future__ import annotations

from typing import Iterator, Protocol

from modules.anchor.types import AnchorRecord
from modules.bridge.types import BridgeParams, BridgeValidator, Valset
from modules.oracle.types import Validator
from modules.types import SubaccountId


class Bank(Protocol):
    def mint(self, subaccount: SubaccountId, amount_micro_usdc: int) -> None: ...


class Bridge(Protocol):
    """The bridge's validators carry the power staking gives them; a change records a valset."""

    def validator(self, consensus_address: bytes) -> BridgeValidator | None: ...

    def validators(self) -> Iterator[BridgeValidator]: ...

    def set_validator(self, validator: BridgeValidator) -> None: ...

    def valset_nonce(self) -> int: ...

    def record_valset(self, nonce: int) -> Valset: ...

    def add_bonds_released(self, amount_micro_usdc: int) -> None: ...

    def params(self) -> BridgeParams | None: ...

    def eth_key_holder(self, eth_address: bytes) -> bytes | None: ...


class ConsensusSet(Protocol):
    """The oracle's copy of CometBFT's validator set (what vote extensions are checked against)."""

    def validators(self) -> Iterator[Validator]: ...

    def set_validator(self, validator: Validator) -> None: ...

    def remove_validator(self, address: bytes) -> None: ...


class EquivocationVerifier(Protocol):
    """The vault's EIP-712 digests and secp256k1 recovery (app/equivocation_verify.py): modules/
    computes no keccak and recovers no key. The digest functions raise ValueError for a member
    out of its vault type; `signer` is None for a signature the vault would refuse."""

    def anchor_digest(self, eth_chain_id: int, vault: bytes, record: AnchorRecord) -> bytes: ...

    def withdrawal_digest(self, eth_chain_id: int, vault: bytes, withdrawal_id: int, recipient: bytes,
                          amount_micro_usdc: int) -> bytes: ...

    def signer(self, digest: bytes, signature: bytes) -> bytes | None: ...
