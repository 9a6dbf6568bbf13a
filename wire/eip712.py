"""The EIP-712 digest a transaction's signature covers.

    digest = keccak256(0x19 0x01 || domainSeparator || hashStruct(Tx))
    EIP712Domain(string name,string version)             name "perpchain", version "1"
    Tx(string chainId,address account,uint64 nonce,bytes body)

`body` is the serialized TxBody, encoded per EIP-712 as keccak256(body), so the signature covers
every action byte for byte, while a wallet still shows chain id, account and nonce readably.
"""

from __future__ import annotations

from wire.crypto import keccak256

DOMAIN_NAME = "perpchain"
DOMAIN_VERSION = "1"
# The two struct types as EIP-712 encodes them; docs/api/eip712.json is generated from these
# strings (wire/schema.py), so the typed data a wallet is given cannot differ from what is hashed.
DOMAIN_TYPE = "EIP712Domain(string name,string version)"
TX_TYPE = "Tx(string chainId,address account,uint64 nonce,bytes body)"
_DOMAIN_TYPEHASH = keccak256(DOMAIN_TYPE.encode())
TX_TYPEHASH = keccak256(TX_TYPE.encode())
DOMAIN_SEPARATOR = keccak256(
    _DOMAIN_TYPEHASH + keccak256(DOMAIN_NAME.encode()) + keccak256(DOMAIN_VERSION.encode())
)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def tx_digest(chain_id: str, account: bytes, nonce: int, body: bytes) -> bytes:
    struct_hash = keccak256(
        TX_TYPEHASH
        + keccak256(chain_id.encode())
        + account.rjust(32, b"\0")
        + _word(nonce)
        + keccak256(body)
    )
    return keccak256(b"\x19\x01" + DOMAIN_SEPARATOR + struct_hash)
