"""A validator's app that misbehaves on purpose, for the localnet tests only (docs/oracle.md):

    python -m tests.integration.byzantine_node --fault FAULT [the options of `perpchain node`]

    forge-oracle   its proposals' oracle tx carries a forged vote extension
    drop-oracle    its proposals' oracle tx claims the last extension present was absent
    bad-extension  its vote extensions are not extensions at all

The honest validators must refuse each; the production node has no way to do any of it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from app import oracle_votes
from app.application import Application
from app.node import SnapshotSettings, configure_logging, run
from perpchain.cli import add_node_options
from wire.pb import abci_pb, validator_pb

log = logging.getLogger("perpchain.node")


class _LyingProposer(Application):
    """Proposes an oracle tx over a last commit other than the one CometBFT gave it."""

    def prepare_proposal(self, req: abci_pb.RequestPrepareProposal) -> abci_pb.ResponsePrepareProposal:
        lying = abci_pb.RequestPrepareProposal()
        lying.CopyFrom(req)
        self.alter(lying.local_last_commit)
        return super().prepare_proposal(lying)

    def alter(self, commit: abci_pb.ExtendedCommitInfo) -> None:
        raise NotImplementedError


class ForgesOracle(_LyingProposer):
    def alter(self, commit: abci_pb.ExtendedCommitInfo) -> None:
        if commit.votes:
            commit.votes[0].vote_extension = oracle_votes.encode_extension({1: 1_000_000})


class DropsOracle(_LyingProposer):
    def alter(self, commit: abci_pb.ExtendedCommitInfo) -> None:
        # The last vote that is really there (a vote already absent, dropped again, would leave an
        # honest proposal and no fault to refuse).
        present = [vote for vote in commit.votes if vote.block_id_flag == oracle_votes.BLOCK_ID_FLAG_COMMIT and vote.vote_extension]
        if present:
            present[-1].vote_extension = b""
            present[-1].extension_signature = b""
            present[-1].block_id_flag = validator_pb.BLOCK_ID_FLAG_ABSENT  # the validator did not vote


class BadExtension(Application):
    def extend_vote(self, req: abci_pb.RequestExtendVote) -> abci_pb.ResponseExtendVote:
        return abci_pb.ResponseExtendVote(vote_extension=b"\xff" * 64)


FAULTS: dict[str, type[Application]] = {"forge-oracle": ForgesOracle, "drop-oracle": DropsOracle,
                                        "bad-extension": BadExtension}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.byzantine_node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fault", required=True, choices=sorted(FAULTS))
    add_node_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    log.warning("BYZANTINE MODE %s: this validator misbehaves on purpose (tests only)", args.fault)
    return run(Path(args.data), args.abci, args.log_level, args.metrics, args.price_source, FAULTS[args.fault],
               proof_versions=args.proof_versions,
               snapshot_settings=SnapshotSettings(args.snapshot_interval, args.snapshot_keep))


if __name__ == "__main__":
    sys.exit(main())
