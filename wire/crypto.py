"""keccak256 and secp256k1 the way Ethereum uses them: addresses, signing, recovery."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol

import coincurve
import sha3

from modules.auth.errors import BadSignature

SIGNATURE_BYTES = 65
# Half the secp256k1 group order: signatures with s above it are the malleable twin (EIP-2).
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _SECP256K1_N // 2


class _Hash(Protocol):
    def digest(self) -> bytes: ...


_keccak_256: Callable[[bytes], _Hash] = sha3.keccak_256  # (safe-pysha3 has no type hints)


def keccak256(data: bytes) -> bytes:
    """Original Keccak-256 (Ethereum's), not NIST SHA3-256: they differ in padding."""
    return _keccak_256(data).digest()


def address_from_public_key(public_key: coincurve.PublicKey) -> bytes:
    """Ethereum address: the last 20 bytes of keccak256 of the uncompressed key without its 0x04."""
    return keccak256(public_key.format(compressed=False)[1:])[-20:]


def address_to_hex(address: bytes) -> str:
    return "0x" + address.hex()


def address_from_hex(text: str) -> bytes:
    """Parse `0x` + 40 hex digits (any case); raise ValueError naming the problem."""
    body = text[2:] if text.lower().startswith("0x") else text
    if len(body) != 40:
        raise ValueError(f"address must be 20 bytes (40 hex digits), got {text!r}")
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise ValueError(f"address is not hexadecimal: {text!r}") from None


@dataclass(frozen=True)
class PrivateKey:
    """A secp256k1 private key; any Ethereum wallet key works."""

    secret: bytes

    @classmethod
    def generate(cls) -> "PrivateKey":
        return cls(coincurve.PrivateKey(os.urandom(32)).secret)

    @classmethod
    def from_hex(cls, text: str) -> "PrivateKey":
        secret = bytes.fromhex(text[2:] if text.startswith("0x") else text)
        return cls(coincurve.PrivateKey(secret).secret)  # validates range

    @property
    def address(self) -> bytes:
        return address_from_public_key(coincurve.PrivateKey(self.secret).public_key)

    def sign_digest(self, digest: bytes) -> bytes:
        """65 bytes r || s || v with v in {27, 28}; libsecp256k1 always produces low s."""
        rsv = coincurve.PrivateKey(self.secret).sign_recoverable(digest, hasher=None)
        return rsv[:64] + bytes([rsv[64] + 27])


def recover_address(digest: bytes, signature: bytes) -> bytes:
    """The address whose key made `signature` over `digest`; rejects malleable signatures."""
    if len(signature) != SIGNATURE_BYTES:
        raise BadSignature(f"signature must be {SIGNATURE_BYTES} bytes, got {len(signature)}")
    v = signature[64]
    if v not in (27, 28):
        raise BadSignature(f"recovery id v must be 27 or 28, got {v}")
    s = int.from_bytes(signature[32:64], "big")
    if not 0 < s <= _HALF_N:
        raise BadSignature("s is zero or in the upper half of the curve order (malleable signature)")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([v - 27]), digest, hasher=None
        )
    except Exception as exc:  # coincurve raises ValueError or its own errors
        raise BadSignature(f"signature does not recover a public key ({exc})") from None
    return address_from_public_key(public_key)
