"""The relayer's anchoring duties, one pass per relayer step (kept apart from bridge/relayer.py):

  1. sign: when the chain's latest anchor lacks this validator's signature, sign its EIP-712
     digest (wire/anchor.py) with the validator's Ethereum key and post it (SignAnchor); with
     --verify, only once the record the node reports is the one proven in the chain's state
     against a header its validators signed (client/proven.py);
  2. submit: once > 2/3 of the power signed and the vault holds an older nonce, send
     `Vault.anchor` — first the relayer whose turn it is (nonce mod validators), any other after
     the backup delay; the vault takes a nonce once whoever sends it;
  3. report the anchor lag: nonces and chain heights the vault is behind the chain, and the age
     of the vault's anchor on Ethereum's clock (what the freeze period is measured against).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from client.anchor import AnchorClient, record_from_json
from client.eth import TransactionFailed
from client.light import NotVerified
from modules.anchor.errors import AnchorAlreadySigned, AnchorSuperseded
from modules.anchor.types import AnchorRecord, SignAnchor
from wire.anchor import anchor_digest

if TYPE_CHECKING:
    from bridge.relayer import Relayer

log = logging.getLogger("perpchain.relayer.anchor")

METRICS = ("relayer_anchors_signed_total", "relayer_anchors_submitted_total", "relayer_anchor_chain_nonce",
           "relayer_anchor_vault_nonce", "relayer_anchor_lag_nonces", "relayer_anchor_lag_blocks",
           "relayer_anchor_age_seconds", "relayer_anchor_freeze_in_seconds")
# The chain's refusals of an anchor signature that mean it is not needed (ABCI codes, unique
# chain-wide: modules/anchor/errors.py, docs/errors.md): 704 AnchorSuperseded, a newer anchor
# exists; 706 AnchorAlreadySigned, this validator's signature is on chain (a resent tx).
SIGNATURE_OVERTAKEN = frozenset({AnchorSuperseded.code, AnchorAlreadySigned.code})


class AnchorRelay:
    def __init__(self, relayer: Relayer) -> None:
        self.relayer = relayer
        self.anchors = AnchorClient(relayer.client, relayer.config.eth_rpc, relayer.config.vault)
        for name in METRICS:
            relayer.metrics.setdefault(name, 0)

    def step(self) -> None:
        status = self.anchors.status()
        if not status["enabled"] or status["latest"] is None:
            return
        latest = status["latest"]
        record = record_from_json(latest["record"])
        if self.relayer.verify is not None:
            self.check_proven(record)
        self.sign(record, latest)
        vault = self.anchors.vault_anchor()
        if (latest["ready"] and vault.nonce < record.nonce and not vault.frozen
                and self.relayer.my_turn("anchor", record.nonce)):
            self.submit(latest)
            vault = self.anchors.vault_anchor()
        metrics = self.relayer.metrics
        metrics["relayer_anchor_chain_nonce"] = record.nonce
        metrics["relayer_anchor_vault_nonce"] = vault.nonce
        metrics["relayer_anchor_lag_nonces"] = record.nonce - vault.nonce
        metrics["relayer_anchor_lag_blocks"] = max(0, record.height - vault.height)
        metrics["relayer_anchor_age_seconds"] = vault.age_s
        metrics["relayer_anchor_freeze_in_seconds"] = max(0, vault.freezable_at_s - vault.eth_time_s)

    def check_proven(self, record: AnchorRecord) -> None:
        """NotVerified unless `record` is the one the chain's state holds under its nonce, proven."""
        proven_record, proven = self.relayer.client.prove_anchor_record(record.nonce)
        if proven_record != record:
            raise NotVerified(f"anchor {record.nonce}: the node reports another record than the one proven "
                              f"at height {proven.height}")

    def sign(self, record: AnchorRecord, answer: dict[str, Any]) -> None:
        eth_key = self.relayer.eth_key
        me, key = self.relayer.consensus_address, f"0x{eth_key.address.hex()}"
        if any(s["validator"] == me and s["eth_address"] == key for s in answer["signatures"]):
            return  # signed with the current key (after a rotation it signs again)
        chain_id, vault = self.relayer.vault_domain()
        signature = eth_key.sign_digest(anchor_digest(chain_id, vault, record))
        result = self.relayer.send_to_chain([SignAnchor(record.nonce, signature)], overtaken_by=SIGNATURE_OVERTAKEN)
        if result is None:
            return
        self.relayer.metrics["relayer_anchors_signed_total"] += 1
        log.info("signed anchor %d (height %d, root 0x%s) in block %d", record.nonce, record.height,
                 record.balances_root.hex(), result.height)

    def submit(self, answer: dict[str, Any]) -> None:
        nonce = int(answer["record"]["nonce"])
        call = self.anchors.anchor_call(answer)
        if call is None:
            log.info("anchor %d waits: the keys the vault holds signed 2/3 of its power or less", nonce)
            return
        try:
            receipt = self.relayer.send_to_vault(f"anchor {nonce}", call, raced_by="StaleAnchorNonce")
        except TransactionFailed:  # mined but reverted: another relayer's anchor landed in between?
            if self.anchors.bridge.vault.functions.anchorNonce().call() >= nonce:
                log.info("anchor %d landed from another relayer first", nonce)
                return
            raise
        if receipt is None:
            return
        self.relayer.metrics["relayer_anchors_submitted_total"] += 1
        log.info("submitted anchor %d to the vault (eth tx 0x%s, gas %d)", nonce,
                 bytes(receipt["transactionHash"]).hex(), receipt["gasUsed"])
