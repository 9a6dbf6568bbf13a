"""bridge's errors (codes 600-649)."""

from modules.errors import ChainError


class BridgeError(ChainError):
    codespace = "bridge"


class InvalidGenesis(BridgeError):
    """The bridge section of the genesis app_state is wrong; the message names the field."""

    code = 600


class BridgeDisabled(BridgeError):
    """The genesis configured no bridge (no vault, no validators), so bridge actions are refused."""

    code = 601


class NotBridgeValidator(BridgeError):
    """Only a validator's operator account may claim deposits, sign withdrawals or set a bridge key."""

    code = 602


class ClaimOutOfOrder(BridgeError):
    """A validator claims deposits in nonce order, one after the other, without skipping one that is
    not yet credited."""

    code = 603


class DepositAlreadyCredited(BridgeError):
    """The deposit nonce was credited before; nothing more to claim."""

    code = 604


class MalformedClaim(BridgeError):
    """A deposit claim field is out of range (amount, subaccount, lengths)."""

    code = 605


class InvalidWithdrawal(BridgeError):
    """A withdrawal needs a positive amount and a non-zero 20-byte Ethereum recipient."""

    code = 606


class UnknownWithdrawal(BridgeError):
    """No withdrawal with that id was queued."""

    code = 607


class BadWithdrawalSignature(BridgeError):
    """The signature does not recover to the validator's registered Ethereum address over the
    withdrawal's digest (or is malformed or malleable)."""

    code = 608


class AlreadySigned(BridgeError):
    """This validator's signature for the withdrawal is already recorded."""

    code = 609


class BadBridgeKey(BridgeError):
    """A bridge key must be a non-zero address not used by another validator, proven by its own
    signature over the registration digest."""

    code = 610


class UnknownDeposit(BridgeError):
    """No claim was made for that deposit nonce."""

    code = 611


class BadBridgeQuery(BridgeError):
    """A /bridge/... query path or argument is wrong; the message lists the paths."""

    code = 612


class UnknownValset(BridgeError):
    """No validator-set update with that nonce (updates start at 1, one per key rotation)."""

    code = 613


class BadValsetSignature(BridgeError):
    """The signature does not recover to the validator's key in the set the vault holds (the
    previous one), or the validator is not in that set."""

    code = 614


class DepositsHalted(BridgeError):
    """Deposits are halted: validators holding more than 1/3 of the bridge power claimed a credited
    deposit with another content (a reorg deeper than the confirmations). Claims of uncredited
    nonces wait until operators resume (`ResumeDeposits`)."""

    code = 615


class UnknownHalt(BridgeError):
    """A resume names no current halt (deposits are not halted, or the halt id is another one), or
    a query names a halt id never made."""

    code = 616


class ResumeNotReady(BridgeError):
    """The halted deposit is disputed by more than 1/3 of the power but no content has more than
    2/3 yet: the chain does not know what Ethereum's canonical deposit is; wait for the relayers."""

    code = 617


class AlreadyResumed(BridgeError):
    """This validator's operator sent its resume for the halt before."""

    code = 618


class TooManyDisputes(BridgeError):
    """A validator disputes at most MAX_OPEN_DISPUTES credited deposits at once (each is stored
    and read by the check after a resume); a dispute closes when a resume corrects its nonce, or
    is withdrawn by a claim with the credited content."""

    code = 619


class BadRotationApproval(BridgeError):
    """A bridge key rotation needs the validator's current bridge key to sign it: the approval is
    missing or does not recover to the current key over the rotation digest (chain id, consensus
    address, current key, new key, valset nonce). The operator key alone cannot replace the key."""

    code = 620


class StaleRotationNonce(BridgeError):
    """A rotation names a valset nonce other than the one it would record (the latest + 1): an
    approval replayed, or made before another rotation landed. Sign a fresh one."""

    code = 621
