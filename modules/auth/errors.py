"""Errors of the transaction envelope (codes 2-19)."""

from modules.errors import ChainError


class AuthError(ChainError):
    codespace = "auth"


class MalformedTx(AuthError):
    """The bytes do not decode as a perpchain SignedTx."""

    code = 2


class WrongChainId(AuthError):
    """The body names another chain; signing for one chain never authorises another."""

    code = 3


class BadSignature(AuthError):
    """Missing, wrongly sized, malleable (high s) or not recoverable."""

    code = 4


class SignerMismatch(AuthError):
    """The signature recovers to an address other than the body's account."""

    code = 5


class NonceAlreadyUsed(AuthError):
    """The nonce was used before by this account (a replay)."""

    code = 6


class NonceOutsideWindow(AuthError):
    """The nonce, a millisecond timestamp, is outside (block time - 2 days, block time + 1 day)."""

    code = 7


class NonceTooOld(AuthError):
    """The nonce is not above the smallest of the account's 100 most recent nonces."""

    code = 8


class UnknownAction(AuthError):
    """An action kind this chain does not know (an empty or unrecognised oneof)."""

    code = 9


class TxTooLarge(AuthError):
    """The encoded tx exceeds the size limit."""

    code = 10


class NoActions(AuthError):
    """A tx must carry at least one action."""

    code = 11


class TooManyActions(AuthError):
    """A tx carries more actions than the per-tx limit."""

    code = 12


class FieldOutOfRange(AuthError):
    """An integer field of an action outside what its type can hold (wire/codec.py FIELD_RANGES), or
    an enum value that is none of its members: refused as decoded, never truncated. The log names
    the action's index and kind, the field, the value and the range."""

    code = 13
