"""The EIP-712 digest validators sign for an anchor, computed exactly as Vault.anchorDigest does.

    Anchor(uint64 nonce,string chainId,uint64 height,bytes32 appHash,bytes32 balancesRoot,
           uint256 totalClaimable,uint64 depositNonce,uint64 withdrawalId,uint256 withdrawnTotal,
           bytes32 bondDebitsHash)
    digest = keccak256(0x19 0x01 || domainSeparator(eth chain id, vault) || hashStruct(Anchor))

The domain is the vault's (wire/vault.py), so a signature is bound to one vault on one chain.
Per EIP-712 the string member is encoded as keccak256 of its UTF-8 bytes. `bondDebitsHash` is
keccak256(abi.encode(BondDebit[])) of the chain's bond debits (modules/anchor/types.py), which
Vault.anchor takes beside the record.
"""

from __future__ import annotations

from collections.abc import Sequence

from modules.anchor.types import AnchorRecord, BondDebit, bond_debits_hash
from wire.crypto import keccak256
from wire.vault import domain_separator

ANCHOR_TYPE = ("Anchor(uint64 nonce,string chainId,uint64 height,bytes32 appHash,bytes32 balancesRoot,"
               "uint256 totalClaimable,uint64 depositNonce,uint64 withdrawalId,uint256 withdrawnTotal,"
               "bytes32 bondDebitsHash)")
ANCHOR_TYPEHASH = keccak256(ANCHOR_TYPE.encode())
NO_BOND_DEBITS_HASH = bond_debits_hash(keccak256, ())  # a chain that slashed nothing


def _word(value: int, bits: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise ValueError(f"expected a uint{bits}, got {value!r}")
    return value.to_bytes(32, "big")


def _bytes32(value: bytes) -> bytes:
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes, got {len(value)}")
    return value


def anchor_struct_hash(nonce: int, chain_id: str, height: int, app_hash: bytes, balances_root: bytes,
                       total_claimable_micro_usdc: int, deposit_nonce: int, withdrawal_id: int,
                       withdrawn_total_micro_usdc: int, debits_hash: bytes) -> bytes:
    return keccak256(ANCHOR_TYPEHASH + _word(nonce, 64) + keccak256(chain_id.encode()) + _word(height, 64)
                     + _bytes32(app_hash) + _bytes32(balances_root) + _word(total_claimable_micro_usdc, 256)
                     + _word(deposit_nonce, 64) + _word(withdrawal_id, 64) + _word(withdrawn_total_micro_usdc, 256)
                     + _bytes32(debits_hash))


def anchor_digest(eth_chain_id: int, vault: bytes, record: AnchorRecord) -> bytes:
    """What validators sign for `record` on `vault` of Ethereum chain `eth_chain_id`."""
    struct_hash = anchor_struct_hash(record.nonce, record.chain_id, record.height, record.app_hash,
                                     record.balances_root, record.total_claimable_micro_usdc, record.deposit_nonce,
                                     record.withdrawal_id, record.withdrawn_total_micro_usdc, record.bond_debits_hash)
    return keccak256(b"\x19\x01" + domain_separator(eth_chain_id, vault) + struct_hash)


def vault_record(record: AnchorRecord) -> tuple[int, str, int, bytes, bytes, int, int, int, int, bytes]:
    """The `AnchorRecord` struct as Vault.anchor takes it through web3.py."""
    return (record.nonce, record.chain_id, record.height, record.app_hash, record.balances_root,
            record.total_claimable_micro_usdc, record.deposit_nonce, record.withdrawal_id,
            record.withdrawn_total_micro_usdc, record.bond_debits_hash)


def vault_bond_debits(debits: Sequence[BondDebit]) -> list[tuple[str, int]]:
    """The `BondDebit[]` Vault.anchor takes beside the record (addresses 0x-hex, EIP-55 checksummed)."""
    return [(checksum_address(signer), total) for signer, total in debits]


def checksum_address(address: bytes) -> str:
    """EIP-55: a hex digit is upper case when the matching nibble of keccak256(lower hex) is >= 8."""
    digits = address.hex()
    hashed = keccak256(digits.encode()).hex()
    return "0x" + "".join(c.upper() if int(hashed[i], 16) >= 8 else c for i, c in enumerate(digits))
