"""The relayer's anchoring duties, one pass per relayer step (kept apart from bridge/relayer.py):

  1. sign: when the chain's latest anchor lacks this validator's signature, sign its EIP-712
     digest (wire/anchor.py) with the validator's Ethereum key and post it (SignAnchor);
  2. submit: once > 2/3 of the power signed and the vault holds an older nonce, send
     `Vault.anchor` — first the relayer whose turn it is (nonce mod validators), any other after
     the backup delay; the vault takes a nonce once whoever sends it;
  3. report the anchor lag: nonces and chain heights the vault is behind the chain, and the age
     of the vault's anchor on Ethereum's clock (what the freeze period is measured against).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from client.anchor import AnchorClient, record_from_json
from client.errors import ChainRejected
from modules.anchor.types import AnchorRecord, SignAnchor
from wire.anchor import anchor_digest

if TYPE_CHECKING:
    from bridge.relayer import Relayer

log = logging.getLogger("perpchain.relayer.anchor")

METRICS = ("relayer_anchors_signed_total", "relayer_anchors_submitted_total", "relayer_anchor_chain_nonce",
           "relayer_anchor_vault_nonce", "relayer_anchor_lag_nonces", "relayer_anchor_lag_blocks",
           "relayer_anchor_age_seconds", "relayer_anchor_freeze_in_seconds")


class AnchorRelay:
    def __init__(self, relayer: "Relayer") -> None:
        self.relayer = relayer
        self.anchors = AnchorClient(relayer.client, relayer.config.eth_rpc, relayer.config.vault)
        self._ready_seen: dict[int, float] = {}
        for name in METRICS:
            relayer.metrics.setdefault(name, 0)

    def step(self) -> None:
        status = self.anchors.status()
        if not status["enabled"] or status["latest"] is None:
            return
        latest = status["latest"]
        record = record_from_json(latest["record"])
        self.sign(record, latest)
        vault = self.anchors.vault_anchor()
        if latest["ready"] and vault.nonce < record.nonce and not vault.frozen and self._my_turn(record.nonce):
            self.submit(latest)
            vault = self.anchors.vault_anchor()
        metrics = self.relayer.metrics
        metrics["relayer_anchor_chain_nonce"] = record.nonce
        metrics["relayer_anchor_vault_nonce"] = vault.nonce
        metrics["relayer_anchor_lag_nonces"] = record.nonce - vault.nonce
        metrics["relayer_anchor_lag_blocks"] = max(0, record.height - vault.height)
        metrics["relayer_anchor_age_seconds"] = vault.age_s
        metrics["relayer_anchor_freeze_in_seconds"] = max(0, vault.freezable_at_s - vault.eth_time_s)

    def sign(self, record: AnchorRecord, answer: dict[str, Any]) -> None:
        me, key = self.relayer._consensus_address, f"0x{self.relayer.eth_key.address.hex()}"
        if any(s["validator"] == me and s["eth_address"] == key for s in answer["signatures"]):
            return  # signed with the current key (after a rotation it signs again)
        chain_id, vault = self.anchors.bridge.web3.eth.chain_id, bytes.fromhex(self.relayer.config.vault[2:])
        signature = self.relayer.eth_key.sign_digest(anchor_digest(chain_id, vault, record))
        try:  # not waiting for the block: the next pass sees the signature (a resend fails CheckTx with 706)
            tx_hash = self.relayer.client.send(self.relayer.operator, [SignAnchor(record.nonce, signature)], wait=False)
        except ChainRejected as exc:
            if exc.codespace == "anchor" and exc.code in (704, 706):  # superseded or signed: re-read next step
                log.info("anchor %d signature overtaken (%s)", record.nonce, exc.log)
                return
            raise
        self.relayer.metrics["relayer_anchors_signed_total"] += 1
        log.info("signed anchor %d (height %d, root 0x%s): tx %s", record.nonce, record.height,
                 record.balances_root.hex(), tx_hash)

    def submit(self, answer: dict[str, Any]) -> None:
        from web3.exceptions import ContractCustomError

        from bridge.eth import decode_custom_error

        vault = self.anchors.bridge.vault
        nonce = int(answer["record"]["nonce"])
        try:
            receipt = self.anchors.submit(self.relayer.eth_key, answer)
        except ContractCustomError as exc:
            name, args = decode_custom_error(vault.abi, exc.data)  # type: ignore[arg-type]
            if name == "StaleAnchorNonce":  # another relayer was first
                log.info("anchor %d already on the vault", nonce)
                return
            raise RuntimeError(f"Vault.anchor({nonce}) would revert: {name}{args}") from None
        except RuntimeError:  # mined but reverted: another relayer's anchor landed in between?
            if vault.functions.anchorNonce().call() >= nonce:
                log.info("anchor %d landed from another relayer first", nonce)
                return
            raise
        if receipt is None:
            log.info("anchor %d waits: the keys the vault holds signed 2/3 of its power or less", nonce)
            return
        self.relayer.metrics["relayer_anchors_submitted_total"] += 1
        log.info("submitted anchor %d to the vault (eth tx 0x%s, gas %d)", nonce,
                 bytes(receipt["transactionHash"]).hex(), receipt["gasUsed"])

    def _my_turn(self, nonce: int) -> bool:
        if nonce % self.relayer._validator_count == self.relayer._validator_index:
            return True
        first_seen = self._ready_seen.setdefault(nonce, time.monotonic())
        return time.monotonic() - first_seen >= self.relayer.config.backup_delay_ms / 1000
