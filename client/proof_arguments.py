"""The options of a proven read (docs/queries.md, "Proofs"): `--prove` and the trust root, shared by
the CLI's queries, the terminal and the relayer."""

from __future__ import annotations

import argparse

from client.arguments import uint_arg
from client.light import TrustRoot


def add_proof_options(parser: argparse.ArgumentParser, flag: bool = True) -> None:
    """`--prove` (unless the command always proves) and where the headers it checks against start."""
    if flag:
        parser.add_argument("--prove", action="store_true",
                            help="check the answer with a proof against a header its validators signed (docs/queries.md)")
    parser.add_argument("--trust-height", type=uint_arg("trust height", 1), default=0,
                        help="with a proof: the header trusted to start from (default: the node's earliest)")
    parser.add_argument("--trust-hash", type=block_hash,
                        help="with a proof: the hash of the --trust-height header (default: taken from the node)")


def block_hash(text: str) -> bytes:
    """64 hex digits (an argparse `type=`), as CometBFT prints block hashes."""
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a block hash is hexadecimal, got {text!r}") from None
    if len(digest) != 32:
        raise argparse.ArgumentTypeError(f"a block hash is 32 bytes (64 hex digits), got {len(digest)}")
    return digest


def trust_root(args: argparse.Namespace) -> TrustRoot:
    """The TrustRoot of add_proof_options' arguments (the defaults when the command has none)."""
    trust_hash = getattr(args, "trust_hash", None)
    if trust_hash is not None and not getattr(args, "trust_height", 0):
        raise SystemExit("error: --trust-hash needs --trust-height (the height of that header)")
    return TrustRoot(getattr(args, "trust_height", 0), trust_hash)
