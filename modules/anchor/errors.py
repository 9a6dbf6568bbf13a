"""anchor's errors (codes 700-729)."""

from modules.errors import ChainError


class AnchorError(ChainError):
    codespace = "anchor"


class InvalidAnchorGenesis(AnchorError):
    """The anchor section of the genesis app_state is wrong; the message names the field."""

    code = 700


class AnchoringDisabled(AnchorError):
    """The genesis configured no anchoring (it needs the bridge and an anchor interval)."""

    code = 701


class NotAnchorValidator(AnchorError):
    """Only a bridge validator's operator account may sign anchors."""

    code = 702


class UnknownAnchor(AnchorError):
    """No anchor record with that nonce exists yet."""

    code = 703


class AnchorSuperseded(AnchorError):
    """A newer anchor exists; the vault would refuse this one as stale, so sign the latest."""

    code = 704


class BadAnchorSignature(AnchorError):
    """The signature does not recover to the validator's registered bridge key over the anchor's
    digest (or is malformed or malleable)."""

    code = 705


class AnchorAlreadySigned(AnchorError):
    """This validator's signature for the anchor is already recorded."""

    code = 706


class BadAnchorQuery(AnchorError):
    """An /anchor/... query path or argument is wrong; the message lists the paths."""

    code = 707


class NoClaimableBalance(AnchorError):
    """The address has no leaf in the anchored tree (its claimable amount was zero)."""

    code = 708


class AnchorStateUnavailable(AnchorError):
    """The leaves of that anchor are no longer kept (only the latest and the one before are)."""

    code = 709
