"""The two EIP-712 digests the Vault verifies, computed exactly as Vault.sol does, and signing.

    domain  EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
            name "perpchain-vault", version "1", the Ethereum chain id, the vault's address
    Withdrawal(uint64 id,address recipient,uint256 amount)
    Valset(address[] validators,uint256[] powers,uint64 nonce)

    digest = keccak256(0x19 0x01 || domainSeparator || hashStruct(message))

Per EIP-712, an array member is encoded as keccak256 of its elements' 32-byte encodings
concatenated. Addresses are 20-byte `bytes` (as in wire.crypto); amounts are micro-USDC integers.
The vault counts a signer once only when signatures come in strictly increasing signer-address
order: `sign_quorum` returns them that way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wire.crypto import PrivateKey, keccak256, recover_address

DOMAIN_NAME = "perpchain-vault"
DOMAIN_VERSION = "1"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
WITHDRAWAL_TYPE = "Withdrawal(uint64 id,address recipient,uint256 amount)"
VALSET_TYPE = "Valset(address[] validators,uint256[] powers,uint64 nonce)"

DOMAIN_TYPEHASH = keccak256(DOMAIN_TYPE.encode())
WITHDRAWAL_TYPEHASH = keccak256(WITHDRAWAL_TYPE.encode())
VALSET_TYPEHASH = keccak256(VALSET_TYPE.encode())

_UINT64_MAX = 2**64 - 1
_UINT256_MAX = 2**256 - 1


def _uint(value: int, maximum: int = _UINT256_MAX) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(f"expected an integer in 0..{maximum}, got {value!r}")
    return value.to_bytes(32, "big")


def _address(address: bytes) -> bytes:
    if not isinstance(address, bytes) or len(address) != 20:
        raise ValueError(f"an address is 20 bytes, got {address!r}")
    return address.rjust(32, b"\0")


def domain_separator(chain_id: int, vault: bytes) -> bytes:
    return keccak256(
        DOMAIN_TYPEHASH
        + keccak256(DOMAIN_NAME.encode())
        + keccak256(DOMAIN_VERSION.encode())
        + _uint(chain_id)
        + _address(vault)
    )


def withdrawal_struct_hash(withdrawal_id: int, recipient: bytes, amount_micro_usdc: int) -> bytes:
    return keccak256(
        WITHDRAWAL_TYPEHASH + _uint(withdrawal_id, _UINT64_MAX) + _address(recipient) + _uint(amount_micro_usdc)
    )


def valset_checkpoint(validators: Sequence[bytes], powers: Sequence[int], nonce: int) -> bytes:
    """hashStruct(Valset): what the vault stores as `valsetCheckpoint` for its current set."""
    if len(validators) != len(powers):
        raise ValueError(f"{len(validators)} validators but {len(powers)} powers")
    return keccak256(
        VALSET_TYPEHASH
        + keccak256(b"".join(_address(v) for v in validators))
        + keccak256(b"".join(_uint(p) for p in powers))
        + _uint(nonce, _UINT64_MAX)
    )


def _typed_digest(chain_id: int, vault: bytes, struct_hash: bytes) -> bytes:
    return keccak256(b"\x19\x01" + domain_separator(chain_id, vault) + struct_hash)


def withdrawal_digest(
    chain_id: int, vault: bytes, withdrawal_id: int, recipient: bytes, amount_micro_usdc: int
) -> bytes:
    """What validators sign to release withdrawal `withdrawal_id` from `vault` on `chain_id`."""
    return _typed_digest(chain_id, vault, withdrawal_struct_hash(withdrawal_id, recipient, amount_micro_usdc))


def valset_digest(chain_id: int, vault: bytes, validators: Sequence[bytes], powers: Sequence[int], nonce: int) -> bytes:
    """What the current set signs to hand `vault` over to (validators, powers, nonce)."""
    return _typed_digest(chain_id, vault, valset_checkpoint(validators, powers, nonce))


BRIDGE_KEY_DOMAIN = b"perpchain-bridge-key"


def bridge_key_digest(chain_id: str, consensus_address: bytes, eth_address: bytes) -> bytes:
    """What a validator's new bridge key signs to prove it holds the key (not a vault digest: the
    chain checks it): keccak256("perpchain-bridge-key" || chain id || consensus address || eth address)."""
    return keccak256(BRIDGE_KEY_DOMAIN + chain_id.encode() + consensus_address + eth_address)


BRIDGE_KEY_ROTATION_DOMAIN = b"perpchain-bridge-key-rotation"


def bridge_key_rotation_digest(chain_id: str, consensus_address: bytes, old_eth_address: bytes,
                               new_eth_address: bytes, valset_nonce: int) -> bytes:
    """What a validator's CURRENT bridge key signs to approve its replacement (the chain checks it,
    not the vault): keccak256("perpchain-bridge-key-rotation" || keccak256(chain id) || consensus
    address || old eth address || new eth address || valset nonce as 8 bytes big-endian), where the
    valset nonce is the one the rotation records (the chain's latest + 1). Every field but the
    hashed chain id has a fixed length, so no two rotations share the bytes; the nonce moves with
    every rotation of any validator, so an approval is good for one rotation only."""
    for name, address in (("consensus address", consensus_address), ("old eth address", old_eth_address),
                          ("new eth address", new_eth_address)):
        if not isinstance(address, bytes) or len(address) != 20:
            raise ValueError(f"the {name} is 20 bytes, got {address!r}")
    if isinstance(valset_nonce, bool) or not isinstance(valset_nonce, int) or not 0 <= valset_nonce <= _UINT64_MAX:
        raise ValueError(f"the valset nonce must be in 0..{_UINT64_MAX}, got {valset_nonce!r}")
    return keccak256(BRIDGE_KEY_ROTATION_DOMAIN + keccak256(chain_id.encode()) + consensus_address
                     + old_eth_address + new_eth_address + valset_nonce.to_bytes(8, "big"))


def sign(key: PrivateKey, digest: bytes) -> bytes:
    """65 bytes r || s || v, low s, v in {27, 28}: the form the vault accepts."""
    return key.sign_digest(digest)


def split_signature(signature: bytes) -> tuple[bytes, bytes, int]:
    """(r, s, v): the vault's `Signature` struct as web3.py takes it."""
    if len(signature) != 65:
        raise ValueError(f"a signature is 65 bytes, got {len(signature)}")
    return signature[:32], signature[32:64], signature[64]


def sign_quorum(keys: Iterable[PrivateKey], digest: bytes) -> list[tuple[bytes, bytes, int]]:
    """Each key's signature over `digest`, ordered by signer address as the vault requires."""
    by_address = sorted((key.address, sign(key, digest)) for key in keys)
    return [split_signature(signature) for _, signature in by_address]


def order_signatures(digest: bytes, signatures: Iterable[bytes]) -> list[tuple[bytes, bytes, int]]:
    """Signatures collected from validators (any order), sorted by recovered signer for the vault.

    Raises wire's BadSignature for a malformed or malleable signature, ValueError for a signer
    that appears twice.
    """
    by_signer: dict[bytes, bytes] = {}
    for signature in signatures:
        signer = recover_address(digest, signature)
        if signer in by_signer:
            raise ValueError(f"two signatures from 0x{signer.hex()}")
        by_signer[signer] = signature
    return [split_signature(by_signer[signer]) for signer in sorted(by_signer)]
