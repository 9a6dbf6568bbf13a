"""The wire format, defined once and imported by both the chain and its clients.

A transaction is a protobuf `TxBody` (chain id, account, nonce, actions) signed with a 65-byte
recoverable secp256k1 signature over an EIP-712 digest, so any Ethereum wallet key can trade.
"""

from wire.codec import Action, Tx, decode_signed_tx, encode_body, sign_tx
from wire.crypto import PrivateKey, address_from_hex, address_to_hex, keccak256, recover_address
from wire.eip712 import tx_digest

__all__ = [
    "Action",
    "PrivateKey",
    "Tx",
    "address_from_hex",
    "address_to_hex",
    "decode_signed_tx",
    "encode_body",
    "keccak256",
    "recover_address",
    "sign_tx",
    "tx_digest",
]
