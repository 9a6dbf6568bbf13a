"""A validator's app that misbehaves on purpose, for the localnet tests only (docs/oracle.md):

    python -m tests.integration.byzantine_node --fault FAULT [--trader-key FILE] [the options of `perpchain node`]

    forge-oracle    its proposals' oracle tx carries a forged vote extension
    drop-oracle     its proposals' oracle tx claims the last extension present was absent
    bad-extension   its vote extensions are not extensions at all
    reorder         its proposals carry the block's txs in reverse (docs/orderbook.md, "A block")
    front-run       its proposals put a taking order of its own (signed with --trader-key) ahead of
                    the block's first taking order, buying the best level that order was to take
    drop-oracle-tx  its proposals leave the oracle tx out

The honest validators must refuse each; the production node has no way to do any of it."""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from pathlib import Path
from typing import Any

from app import oracle_votes
from app.application import Application
from app.node import ApplicationFactory, SnapshotSettings, configure_logging, run
from app.ordering import facts_of, rank
from client import load_key
from modules.errors import ChainError
from modules.markets.keeper import MarketsKeeper
from modules.orderbook.actions import TAKING, PlaceOrder, action_class
from modules.orderbook.types import Side, TimeInForce
from perpchain.cli import add_node_options
from wire import PrivateKey
from wire.codec import Tx, decode_signed_tx, sign_tx
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


def _split_oracle(txs: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(the oracle tx if first, the rest)."""
    head = txs[:1] if txs and oracle_votes.is_oracle_tx(txs[0]) else []
    return head, txs[len(head):]


class Reorders(Application):
    """Proposes the honest block with its txs (after the oracle tx) in reverse."""

    def prepare_proposal(self, req: abci_pb.RequestPrepareProposal) -> abci_pb.ResponsePrepareProposal:
        head, rest = _split_oracle(list(super().prepare_proposal(req).txs))
        if len(rest) > 1:
            log.warning("BYZANTINE reordering the %d txs of height %d", len(rest), req.height)
        return abci_pb.ResponsePrepareProposal(txs=head + rest[::-1])


class DropsOracleTx(Application):
    """Proposes the honest block without its oracle tx."""

    def prepare_proposal(self, req: abci_pb.RequestPrepareProposal) -> abci_pb.ResponsePrepareProposal:
        head, rest = _split_oracle(list(super().prepare_proposal(req).txs))
        if head:
            log.warning("BYZANTINE leaving the oracle tx out of height %d", req.height)
        return abci_pb.ResponsePrepareProposal(txs=rest)


class FrontRuns(Application):
    """Puts a taking order of its trader's ahead of the honest block's first taking order (the
    victim): same market and side, for the whole best level opposite at its price, so the victim
    pays the next level. It does so only where the canonical order would not have put its order
    first anyway: a place the canonical order gives is the draw of any account, not the proposer's
    choice (docs/orderbook.md, "A block")."""

    def __init__(self, trader: PrivateKey, *args: Any) -> None:
        super().__init__(*args)
        self._trader = trader

    def prepare_proposal(self, req: abci_pb.RequestPrepareProposal) -> abci_pb.ResponsePrepareProposal:
        txs = list(super().prepare_proposal(req).txs)
        for index, raw in enumerate(txs):
            victim = self._victim_order(raw)
            if victim is None:
                continue
            own = self._own_order(victim, req.time.seconds * 1000 + req.time.nanos // 1_000_000)
            if own is None:
                break
            seed = self.ordering_seed
            if rank(own, facts_of(decode_signed_tx(own).tx), seed) < rank(raw, facts_of(decode_signed_tx(raw).tx), seed):
                break  # its canonical place is ahead already: no ordering to do
            log.warning("BYZANTINE front-running tx %d of height %d", index, req.height)
            return abci_pb.ResponsePrepareProposal(txs=txs[:index] + [own] + txs[index:])
        return abci_pb.ResponsePrepareProposal(txs=txs)

    def _victim_order(self, raw: bytes) -> PlaceOrder | None:
        """The taking order of another account's taking tx, or None."""
        if oracle_votes.is_oracle_tx(raw):
            return None
        try:
            tx = decode_signed_tx(raw).tx
        except ChainError:
            return None
        if tx.account == self._trader.address:
            return None
        return next((a for a in tx.actions if isinstance(a, PlaceOrder) and action_class(a) == TAKING), None)

    def _own_order(self, victim: PlaceOrder, nonce: int) -> bytes | None:
        """An IOC order taking the whole best level opposite `victim`, or None (an empty side)."""
        opposite = Side.SELL if victim.side == Side.BUY else Side.BUY
        best = self.books[victim.market_id].levels(opposite, 1)
        if not best:
            return None
        price_ticks, size_lots, _ = best[0]
        market = MarketsKeeper(self._store).market(victim.market_id)
        order = PlaceOrder(0, victim.market_id, victim.side, price_ticks * market.tick_size,
                           size_lots * market.step_size, TimeInForce.IOC)
        return sign_tx(self._trader, Tx(self.chain_id, self._trader.address, nonce, (order,)))


FAULTS: dict[str, type[Application]] = {"forge-oracle": ForgesOracle, "drop-oracle": DropsOracle,
                                        "bad-extension": BadExtension, "reorder": Reorders,
                                        "front-run": FrontRuns, "drop-oracle-tx": DropsOracleTx}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.byzantine_node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fault", required=True, choices=sorted(FAULTS))
    parser.add_argument("--trader-key", type=Path, help="front-run: the key file of the account it trades for")
    add_node_options(parser)
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    log.warning("BYZANTINE MODE %s: this validator misbehaves on purpose (tests only)", args.fault)
    application: ApplicationFactory = FAULTS[args.fault]
    if args.fault == "front-run":
        if args.trader_key is None:
            parser.error("front-run needs --trader-key")
        application = partial(FrontRuns, load_key(args.trader_key))
    return run(Path(args.data), args.abci, args.log_level, args.metrics, args.price_source, application,
               proof_versions=args.proof_versions,
               snapshot_settings=SnapshotSettings(args.snapshot_interval, args.snapshot_keep))


if __name__ == "__main__":
    sys.exit(main())
