"""The bridge relayer: one per validator operator (`perpchain relayer --config FILE`).

Each step, in order:
  1. follow Ethereum: read the vault's `Deposited` events up to (head - confirmations), past the
     persistent cursor; keep them as pending until the chain has them. The hashes of the blocks
     the cursor stopped at are kept: when one is replaced (a reorg deeper than the confirmations)
     the cursor goes back to the newest one still on the chain and the deposits seen above it are
     forgotten, so no block of the new chain is skipped;
  2. claim: the pending deposits this validator has not claimed, from its next nonce on, in one tx
     (the chain's /bridge/status says which: idempotent across restarts). A deposit read again
     after a reorg that the chain holds with another content is claimed again: a nonce not yet
     credited is re-claimed (the new claim replaces the old one, so a split tally can finish), a
     credited one is disputed (more than 1/3 of the power disputing it halts deposits until the
     operators resume them: docs/bridge.md, "Deposit halts"). While deposits are halted only
     disputes are sent;
  3. sign: each queued withdrawal this validator has not signed, its digest signed with the
     validator's Ethereum key, posted on chain;
  4. hand over: each validator-set update (a key rotation) the vault lacks is signed with this
     validator's key if that key is in the set before it, and the next one is sent to
     `Vault.updateValset` once ready on chain (same turn rule as payments), in nonce order, with
     the signatures of the keys the vault holds only (a key forfeited there still signs on chain);
  5. anchor: sign the chain's latest anchor, submit it to the vault once ready, report the
     anchor lag (bridge/anchor_relay.py);
  6. pay: each ready withdrawal the vault has not paid and its latest anchor covers is sent to
     `Vault.withdraw` — first by the relayer whose turn it is (id mod validators), by any other
     after `backup_delay_ms`; the vault pays an id once whoever sends it; an id counts as done
     once its payment is buried under the confirmations (a payment dropped by a reorg is sent
     again). A payment that fails (the token refuses the recipient, say) is logged, counted in
     `relayer_withdrawals_failing` and retried next step; the later ids are still paid.
Each duty runs even when another fails, so no single withdrawal or deposit can stop anchors.
A failing step is logged and retried with backoff (0.5 s doubling to 10 s). State (cursor,
pending deposits, withdrawal cursors) is written atomically after every change. /health answers
200 while steps succeed, /metrics in Prometheus text format.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from collections.abc import Collection, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import BlockNotFound, ContractCustomError
from web3.types import TxReceipt

from bridge.anchor_relay import AnchorRelay
from bridge.cli import add_relayer_options
from bridge.config import ConfigError, RelayerConfig
from client.bridge import BridgeClient, held_by_vault
from client.client import Client, TxResult
from client.errors import ChainRejected, TxNotIncluded
from client.eth import decode_custom_error, send_eth_transaction
from client.light import TrustRoot
from client.proof_arguments import trust_root
from modules.bridge.errors import AlreadySigned, ClaimOutOfOrder, DepositAlreadyCredited, DepositsHalted
from modules.bridge.types import ClaimDeposit, SignValset, SignWithdrawal
from wire import vault as digests
from wire.codec import Action
from wire.crypto import PrivateKey

log = logging.getLogger("perpchain.relayer")

MAX_LOG_RANGE = 2_000  # blocks per eth_getLogs
RECENT_BLOCKS_KEPT = 64  # (number, hash) of the last cursor positions, to find where a reorg forked
MAX_ACTIONS_PER_TX = 50
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 10.0
HEALTHY_WITHIN_S = 30.0
TX_WAIT_S = 6.0  # for a claim or signature tx to land in a block
# The chain's refusals (ABCI codes, unique chain-wide: modules/bridge/errors.py, docs/errors.md)
# that mean a tx was overtaken, by another validator's tx or by this relayer's own resent one:
# nothing to redo, the next step re-reads the chain.
# 603 ClaimOutOfOrder, 604 DepositAlreadyCredited, 615 DepositsHalted: the tally moved on first.
CLAIM_OVERTAKEN = frozenset({ClaimOutOfOrder.code, DepositAlreadyCredited.code, DepositsHalted.code})
# 609 AlreadySigned: the chain holds this validator's signature of the withdrawal or validator set.
ALREADY_SIGNED = AlreadySigned.code


class StepFailed(RuntimeError):
    """One or more of a step's duties failed; the others ran."""


class RelayerState:
    """What survives a restart: the Ethereum cursor with the hashes of its latest positions,
    deposits seen but not yet done, and the withdrawal ids below which everything is signed (with
    `signed_with`, the key) / paid."""

    def __init__(self, path: Path, start_block: int) -> None:
        self.path = path
        self.cursor_block = start_block - 1
        self.recent_blocks: list[tuple[int, str]] = []  # (number, hash hex), oldest first, ending at the cursor
        self.pending: dict[int, dict[str, Any]] = {}
        self.highest_seen = 0  # the highest deposit nonce ever read
        self.reread_through = 0  # deposits up to this nonce, read again after a rewind, are checked on chain
        self.signed_through = 0
        self.signed_with = ""
        self.paid_through = 0
        if path.exists():
            raw = json.loads(path.read_text())
            self.cursor_block = raw["cursor_block"]
            self.pending = {int(k): v for k, v in raw["pending"].items()}
            self.signed_through, self.paid_through = raw["signed_through"], raw["paid_through"]
            self.signed_with = raw.get("signed_with", "")
            self.highest_seen, self.reread_through = raw.get("highest_seen", 0), raw.get("reread_through", 0)
            self.recent_blocks = [(int(number), str(block_hash)) for number, block_hash in raw.get("recent_blocks", [])]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"cursor_block": self.cursor_block, "recent_blocks": self.recent_blocks,
                                         "signed_through": self.signed_through,
                                         "signed_with": self.signed_with, "paid_through": self.paid_through,
                                         "highest_seen": self.highest_seen, "reread_through": self.reread_through,
                                         "pending": {str(k): v for k, v in sorted(self.pending.items())}}) + "\n")
        temporary.replace(self.path)


class Relayer:
    """Usable in-process: `Relayer(config).start()` ... `.stop()`; `.step()` runs one pass."""

    def __init__(self, config: RelayerConfig, eth_key: PrivateKey | None = None, verify: TrustRoot | None = None) -> None:
        self.config = config
        self.operator = config.operator_key()  # encrypted at rest; ConfigError names the problem
        self.eth_key = eth_key if eth_key is not None else config.eth_key()
        self.verify = verify  # --verify: anchors are signed only once proven (bridge/anchor_relay.py)
        self.client = Client(config.node_rpc, timeout_s=10.0, trust=verify or TrustRoot())
        self.bridge = BridgeClient(self.client, config.eth_rpc, config.vault)
        self.state = RelayerState(config.state_dir / "relayer-state.json", config.start_block)
        self.metrics: dict[str, float] = {name: 0 for name in (
            "relayer_deposits_claimed_total", "relayer_withdrawals_signed_total", "relayer_withdrawals_paid_total",
            "relayer_valsets_signed_total", "relayer_valsets_sent_total", "relayer_vault_valset_nonce",
            "relayer_step_errors_total", "relayer_steps_total", "relayer_eth_cursor_block", "relayer_eth_reorgs_total",
            "relayer_last_success_unix_seconds", "relayer_pending_deposits", "relayer_withdrawals_failing",
            "relayer_deposits_reclaimed_total", "relayer_deposits_disputed_total", "relayer_deposits_halted")}
        self.last_error = ""
        self._consensus_address: str | None = None
        self._validator_index = 0
        self._validator_count = 1
        self._ready_seen: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: ThreadingHTTPServer | None = None
        self.anchor_relay = AnchorRelay(self)  # bridge/anchor_relay.py: sign, submit, anchor lag

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """host:port of /health and /metrics once started."""
        assert self._http is not None
        host, port = self._http.socket.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> "Relayer":
        host, port = self.config.listen.rsplit(":", 1)
        self._http = ThreadingHTTPServer((host, int(port)), _handler(self))
        threading.Thread(target=self._http.serve_forever, name="relayer-http", daemon=True).start()
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        (self.config.state_dir / "listen").write_text(self.address + "\n")  # for `localnet status` and tests
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="relayer", daemon=True)
        self._thread.start()
        log.info("relayer started: operator 0x%s, eth key 0x%s, health on http://%s", self.operator.address.hex(),
                 self.eth_key.address.hex(), self.address)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self.client.close()
        log.info("relayer stopped")

    def _loop(self) -> None:
        backoff = FIRST_BACKOFF_S
        while not self._stop.is_set():
            try:
                self.step()
                backoff = FIRST_BACKOFF_S
                wait = self.config.poll_interval_ms / 1000
            except Exception as exc:  # any failure: log, count, back off, retry
                self.metrics["relayer_step_errors_total"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("step failed (retrying in %.1fs): %s", backoff, self.last_error)
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF_S)
            self._stop.wait(wait)

    def healthy(self) -> bool:
        return time.time() - self.metrics["relayer_last_success_unix_seconds"] < HEALTHY_WITHIN_S

    # -- one pass -------------------------------------------------------------------------------

    def step(self) -> None:
        """Every duty runs even when another fails (a withdrawal the token refuses to pay must not
        stop anchors, which every later withdrawal waits for); the failures are raised together."""
        self._identify()
        failures = []
        for duty in (self.follow_deposits, self.claim_deposits, self.sign_withdrawals, self.hand_over_valsets,
                     self.anchor_relay.step, self.pay_withdrawals):
            try:
                duty()
            except Exception as exc:  # noqa: BLE001 (reported below, with the others)
                failures.append(f"{duty.__name__}: {type(exc).__name__}: {exc}")
        if failures:
            raise StepFailed("; ".join(failures))
        self.metrics["relayer_steps_total"] += 1
        self.metrics["relayer_last_success_unix_seconds"] = time.time()

    def _identify(self) -> None:
        if self._consensus_address is not None:
            return
        status = self.bridge.status()
        if not status["enabled"]:
            raise RuntimeError("the chain has no bridge configured")
        if status["vault"].lower() != self.config.vault.lower():
            raise RuntimeError(f"the chain's vault is {status['vault']}, the config says {self.config.vault}")
        validators = self.bridge.validators()
        mine = [i for i, v in enumerate(validators) if v["operator"] == f"0x{self.operator.address.hex()}"]
        if not mine:
            raise RuntimeError(f"0x{self.operator.address.hex()} operates no bridge validator")
        me = validators[mine[0]]
        if me["eth_address"] != f"0x{self.eth_key.address.hex()}":
            log.warning("the chain registers eth key %s for this validator, the keystore holds 0x%s",
                        me["eth_address"], self.eth_key.address.hex())
        self._consensus_address, self._validator_index, self._validator_count = (
            me["consensus_address"], mine[0], len(validators))
        key = f"0x{self.eth_key.address.hex()}"
        if self.state.signed_with != key:  # a rotated key signs again what is not paid yet
            self.state.signed_through, self.state.signed_with = min(self.state.signed_through,
                                                                    self.state.paid_through), key
            self.state.save()
        log.info("validator %s (%d of %d)", self._consensus_address, mine[0] + 1, len(validators))

    def follow_deposits(self) -> None:
        w3, vault = self.bridge.web3, self.bridge.vault
        self._rewind_after_reorg(w3)
        safe = w3.eth.block_number - self.config.confirmations
        while self.state.cursor_block < safe:
            first = self.state.cursor_block + 1
            last = min(safe, first + MAX_LOG_RANGE - 1)
            last_hash = _block_hash(w3, last)
            events = vault.events.Deposited().get_logs(from_block=first, to_block=last)
            if last_hash is None or _block_hash(w3, last) != last_hash:
                log.info("Ethereum block %d changed while reading it; reading again next step", last)
                break
            for event in events:
                args = event["args"]
                nonce = int(args["depositNonce"])
                self.state.highest_seen = max(self.state.highest_seen, nonce)
                self.state.pending[nonce] = {
                    "eth_block": int(event["blockNumber"]), "eth_tx_hash": bytes(event["transactionHash"]).hex(),
                    "sender": args["sender"][2:].lower(), "recipient": args["recipient"][2:].lower(),
                    "subaccount": int(args["subaccount"]), "amount": str(args["amount"])}
                log.info("saw deposit %d (block %d, %s micro-USDC to 0x%s/%d)", nonce, event["blockNumber"],
                         args["amount"], args["recipient"][2:].lower(), args["subaccount"])
            self.state.cursor_block = last
            self.state.recent_blocks = [*self.state.recent_blocks, (last, last_hash)][-RECENT_BLOCKS_KEPT:]
            self.state.save()
        self.metrics["relayer_eth_cursor_block"] = self.state.cursor_block

    def _rewind_after_reorg(self, w3: Any) -> None:
        """A block the cursor stopped at is gone (a reorg deeper than the confirmations): move the
        cursor back to the newest such block still on the chain (to the start block when none is)
        and forget the deposits seen above it; the new chain's blocks are read from there."""
        recent = self.state.recent_blocks
        if not recent or _block_hash(w3, recent[-1][0]) == recent[-1][1]:
            return
        replaced = recent[-1][0]
        while recent and _block_hash(w3, recent[-1][0]) != recent[-1][1]:
            recent.pop()
        cursor = recent[-1][0] if recent else self.config.start_block - 1
        forgotten = sorted(n for n, d in self.state.pending.items() if d["eth_block"] > cursor)
        for nonce in forgotten:
            del self.state.pending[nonce]
        self.state.reread_through = max(self.state.reread_through, self.state.highest_seen)
        log.warning("Ethereum reorg deeper than %d confirmations: block %d was replaced; cursor back from %d to %d%s",
                    self.config.confirmations, replaced, self.state.cursor_block, cursor,
                    f"; forgot deposits {', '.join(map(str, forgotten))} (claims already sent for them stay on chain)"
                    if forgotten else "")
        self.state.cursor_block = cursor
        self.state.save()
        self.metrics["relayer_eth_reorgs_total"] += 1

    def claim_deposits(self) -> None:
        status = self.bridge.status()
        next_nonce = int(status["next_deposit_nonce"])
        mine = int(status["last_claims"].get(self.consensus_address, "0"))
        halted = bool(status.get("deposits_halted"))
        self.metrics["relayer_deposits_halted"] = int(halted)
        corrections = self._corrections(next_nonce, mine, halted)
        self.metrics["relayer_pending_deposits"] = len(self.state.pending)
        claims: list[ClaimDeposit] = []
        nonce = max(mine, next_nonce - 1) + 1
        while not halted and nonce in self.state.pending and len(corrections) + len(claims) < MAX_ACTIONS_PER_TX:
            claims.append(self._claim_of(nonce))
            nonce += 1
        actions = corrections + claims
        if not actions:
            return
        result = self.send_to_chain(actions, overtaken_by=CLAIM_OVERTAKEN)
        if result is None:
            return
        self.metrics["relayer_deposits_claimed_total"] += len(claims)
        kinds = {"deposit_reclaim": "relayer_deposits_reclaimed_total",
                 "deposit_disputed": "relayer_deposits_disputed_total"}
        for event in result.events:
            if event.type in kinds:
                self.metrics[kinds[event.type]] += 1
        credited = [e.attributes["nonce"] for e in result.events if e.type == "deposit_credited"]
        halts = [e.attributes["halt_id"] for e in result.events if e.type == "deposits_halted"]
        log.info("claimed deposits %s in block %d%s%s", ", ".join(str(a.deposit_nonce) for a in actions),
                 result.height, f"; credited {', '.join(credited)}" if credited else "",
                 f"; deposits halted (halt {halts[0]})" if halts else "")

    def _claim_of(self, nonce: int) -> ClaimDeposit:
        d = self.state.pending[nonce]
        return ClaimDeposit(nonce, d["eth_block"], bytes.fromhex(d["eth_tx_hash"]), bytes.fromhex(d["sender"]),
                            bytes.fromhex(d["recipient"]), d["subaccount"], int(d["amount"]))

    def _corrections(self, next_nonce: int, mine: int, halted: bool) -> list[ClaimDeposit]:
        """Pending deposits the chain already has from this validator (credited, or claimed by it):
        normally the same content, and forgotten. A deposit read again after a reorg may differ:
        an uncredited nonce is claimed again with what Ethereum's chain now holds (not while
        deposits are halted: the chain refuses it), a credited one is disputed, and a dispute this
        validator sent is withdrawn (by a claim with the credited content) once Ethereum's chain
        holds the credited deposit again; each stays pending until the chain holds this validator's
        claim or dispute as it now reads. Only nonces read before a rewind and read again are asked
        about; the others were read once and are done."""
        me, corrections, done = self.consensus_address, [], []
        for nonce in sorted(n for n in self.state.pending if n < next_nonce or n <= mine):
            if nonce > self.state.reread_through:
                done.append(nonce)
                continue
            claim = self._claim_of(nonce)
            content = claim.content_hash().hex()
            answer = self.bridge.deposit_status(nonce)
            if answer["status"] == "credited":
                disputed = [d["content_hash"] for d in answer.get("disputes", []) if d["validator"] == me]
                if disputed == ([] if answer["content_hash"] == content else [content]):
                    done.append(nonce)
                    continue
                if answer["content_hash"] == content:
                    log.warning("deposit %d is on Ethereum's chain again as credited: withdrawing this validator's "
                                "dispute", nonce)
                else:
                    log.warning("deposit %d is credited with another content than Ethereum's chain now holds "
                                "(block %d, tx 0x%s): disputing it", nonce, claim.eth_block, claim.eth_tx_hash.hex())
                corrections.append(claim)
                continue
            claimed = [c["content_hash"] for c in answer["claims"] if c["validator"] == me]
            if claimed in ([content], []):  # the chain has it as read (or never had a claim of it to replace)
                done.append(nonce)
            elif not halted:
                log.warning("deposit %d reads differently after a reorg (block %d, tx 0x%s): claiming it again", nonce,
                            claim.eth_block, claim.eth_tx_hash.hex())
                corrections.append(claim)
        for nonce in done:
            del self.state.pending[nonce]
        if done:
            self.state.save()
        return corrections[:MAX_ACTIONS_PER_TX]

    def sign_withdrawals(self) -> None:
        next_id = int(self.bridge.status()["next_withdrawal_id"])
        chain_id, vault = self.vault_domain()
        actions, ids = [], []
        for withdrawal_id in range(self.state.signed_through + 1, min(next_id, self.state.signed_through + 1
                                                                       + MAX_ACTIONS_PER_TX)):
            w = self.bridge.withdrawal(withdrawal_id)
            ids.append(withdrawal_id)
            if any(s["eth_address"] == f"0x{self.eth_key.address.hex()}" for s in w["signatures"]):
                continue
            digest = digests.withdrawal_digest(chain_id, vault, withdrawal_id, bytes.fromhex(w["recipient"][2:]),
                                               int(w["amount_micro_usdc"]))
            actions.append(SignWithdrawal(withdrawal_id, digests.sign(self.eth_key, digest)))
        if actions:
            result = self.send_to_chain(actions, overtaken_by=(ALREADY_SIGNED,))
            if result is None:
                return
            self.metrics["relayer_withdrawals_signed_total"] += len(actions)
            log.info("signed withdrawals %s in block %d", ", ".join(str(a.withdrawal_id) for a in actions),
                     result.height)
        if ids:
            self.state.signed_through = ids[-1]
            self.state.save()

    def hand_over_valsets(self) -> None:
        latest = int(self.bridge.status()["valset_nonce"])
        held = int(self.bridge.vault.functions.valsetNonce().call())
        self.metrics["relayer_vault_valset_nonce"] = held
        if latest <= held:
            return
        chain_id, vault = self.vault_domain()
        mine, actions = f"0x{self.eth_key.address.hex()}", []
        for nonce in range(held + 1, latest + 1):
            update, signing = self.bridge.valset(nonce), self.bridge.valset(nonce - 1)
            if mine not in signing["validators"] or any(s["eth_address"] == mine for s in update["signatures"]):
                continue  # a key rotated away signs no more; a signature is posted once
            addresses = [bytes.fromhex(a[2:]) for a in update["validators"]]
            digest = digests.valset_digest(chain_id, vault, addresses, [int(p) for p in update["powers"]], nonce)
            actions.append(SignValset(nonce, digests.sign(self.eth_key, digest)))
        if actions:
            result = self.send_to_chain(actions, overtaken_by=(ALREADY_SIGNED,))
            if result is None:
                return
            self.metrics["relayer_valsets_signed_total"] += len(actions)
            log.info("signed validator-set updates %s in block %d", ", ".join(str(a.valset_nonce) for a in actions),
                     result.height)
        update = self.bridge.valset(held + 1)
        if update["ready"] and self.my_turn("valset", held + 1):
            self._update_valset(update)

    def _update_valset(self, update: dict[str, Any]) -> None:
        nonce = int(update["valset_nonce"])
        signatures = held_by_vault(self.bridge.vault, update)  # a key forfeited in the vault still signs on chain
        if signatures is None:
            log.info("validator set %d waits: the keys the vault holds signed 2/3 of its power or less", nonce)
            return
        call = self.bridge.vault.functions.updateValset([Web3.to_checksum_address(a) for a in update["validators"]],
                                                        [int(p) for p in update["powers"]], nonce, signatures)
        receipt = self.send_to_vault(f"validator set {nonce}", call, raced_by="StaleValsetNonce")
        if receipt is None:
            return
        self._ready_seen.pop(("valset", nonce), None)
        self.metrics["relayer_valsets_sent_total"] += 1
        log.info("handed the vault validator set %d: %s (eth tx 0x%s, gas %d)", nonce, ", ".join(update["validators"]),
                 bytes(receipt["transactionHash"]).hex(), receipt["gasUsed"])

    def pay_withdrawals(self) -> None:
        """Only withdrawals the vault's latest anchor covers are paid (the vault refuses the
        others: docs/bridge.md); later ones wait for the next anchor. `paid_through` passes an id
        once its payment is buried under the confirmations: a reorg that drops the payment's
        block leaves the id unpaid on the vault, and it is sent again."""
        next_id = int(self.bridge.status()["next_withdrawal_id"])
        w3, vault = self.bridge.web3, self.bridge.vault
        anchored_through = int(vault.functions.anchoredWithdrawalId().call())
        confirmed = w3.eth.block_number - self.config.confirmations
        contiguous = True
        failing = 0
        for withdrawal_id in range(self.state.paid_through + 1, min(next_id, anchored_through + 1)):
            if not vault.functions.withdrawalPaid(withdrawal_id).call():
                w = self.bridge.withdrawal(withdrawal_id)
                if w["ready"] and self.my_turn("withdrawal", withdrawal_id):
                    try:
                        self._pay(w)
                    except Exception as exc:  # noqa: BLE001 (e.g. the token refuses the recipient): the next ids still pay
                        failing += 1
                        self.last_error = f"withdrawal {withdrawal_id}: {type(exc).__name__}: {exc}"
                        log.warning("withdrawal %d cannot be paid now (retried every step): %s", withdrawal_id, exc)
            # Only the contiguous run from paid_through moves it, so later ids need no confirmed read.
            settled = contiguous and confirmed >= 0 and vault.functions.withdrawalPaid(withdrawal_id).call(
                block_identifier=confirmed)
            if settled:
                self.state.paid_through = withdrawal_id
                self.state.save()
                self._ready_seen.pop(("withdrawal", withdrawal_id), None)
            else:
                contiguous = False
        self.metrics["relayer_withdrawals_failing"] = failing

    def _pay(self, w: dict[str, Any]) -> None:
        withdrawal_id = int(w["withdrawal_id"])
        signatures = held_by_vault(self.bridge.vault, w)
        if signatures is None:
            log.info("withdrawal %d waits: the keys the vault holds signed 2/3 of its power or less", withdrawal_id)
            return
        call = self.bridge.vault.functions.withdraw(withdrawal_id, Web3.to_checksum_address(w["recipient"]),
                                                    int(w["amount_micro_usdc"]), signatures)
        receipt = self.send_to_vault(f"withdrawal {withdrawal_id}", call, raced_by="AlreadyPaid")
        if receipt is None:
            return
        self.metrics["relayer_withdrawals_paid_total"] += 1
        log.info("paid withdrawal %d: %s micro-USDC to %s (eth tx 0x%s, gas %d)", withdrawal_id,
                 w["amount_micro_usdc"], w["recipient"], bytes(receipt["transactionHash"]).hex(), receipt["gasUsed"])

    # -- what the duties share (bridge/anchor_relay.py's too) -------------------------------------

    @property
    def consensus_address(self) -> str:
        """The CometBFT address (hex) of the validator this relayer serves, known after the first step."""
        if self._consensus_address is None:
            raise RuntimeError("the relayer has not identified its validator yet")
        return self._consensus_address

    def vault_domain(self) -> tuple[int, bytes]:
        """(Ethereum chain id, vault address): what every digest this validator signs is bound to."""
        return self.bridge.web3.eth.chain_id, bytes.fromhex(self.config.vault[2:])

    def my_turn(self, what: str, number: int) -> bool:
        """Whether this relayer sends `what` `number` (a withdrawal id, a valset or anchor nonce) to
        the vault now: the relayer at index `number mod validators` first, any other once the
        backup delay has passed since it saw it ready."""
        if number % self._validator_count == self._validator_index:
            return True
        first_seen = self._ready_seen.setdefault((what, number), time.monotonic())
        return time.monotonic() - first_seen >= self.config.backup_delay_ms / 1000

    def send_to_chain(self, actions: Sequence[Action], overtaken_by: Collection[int] = ()) -> TxResult | None:
        """Send `actions` in one tx signed by the operator, and wait up to TX_WAIT_S for its block.
        None when the chain refuses it with a code in `overtaken_by` or it did not land (a tx
        another one overtook is dropped from the mempool when CometBFT rechecks it): the next step
        re-reads the chain instead of waiting out the client's usual 30 s."""
        try:
            return self.client.send(self.operator, actions, timeout_s=TX_WAIT_S)
        except ChainRejected as exc:
            if exc.code not in overtaken_by:
                raise
            log.info("%d action(s) overtaken (%s); re-reading the chain", len(actions), exc.log)
            return None
        except TxNotIncluded:
            log.info("%d action(s) not in a block within %.0fs (overtaken?); re-reading the chain", len(actions),
                     TX_WAIT_S)
            return None

    def send_to_vault(self, what: str, call: ContractFunction, raced_by: str) -> TxReceipt | None:
        """Send `call` to the vault from this validator's Ethereum key. None when the vault refuses
        it with its error `raced_by`, which says another relayer sent `what` first; any other
        refusal raises RuntimeError naming the vault's error."""
        try:
            return send_eth_transaction(self.bridge.web3, self.eth_key, call)
        except ContractCustomError as exc:
            name, args = decode_custom_error(self.bridge.vault.abi, exc)
            if name == raced_by:
                log.info("%s: another relayer was first (the vault answers %s)", what, name)
                return None
            raise RuntimeError(f"Vault.{call.fn_name} for {what} would revert: {name}{args}") from None

    # -- health and metrics ----------------------------------------------------------------------

    def health_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy(), "validator": self._consensus_address,
                "eth_cursor_block": self.state.cursor_block, "pending_deposits": len(self.state.pending),
                "signed_through": self.state.signed_through, "paid_through": self.state.paid_through,
                "deposits_halted": bool(self.metrics["relayer_deposits_halted"]), "last_error": self.last_error}

    def metrics_text(self) -> str:
        lines = []
        for name, value in sorted(self.metrics.items()):
            kind = "counter" if name.endswith("_total") else "gauge"
            lines += [f"# TYPE {name} {kind}", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"


def _block_hash(w3: Web3, number: int) -> str | None:
    """The hash of Ethereum block `number` (hex, no 0x), None while the chain is shorter."""
    if number < 0:
        return None
    try:
        return bytes(w3.eth.get_block(number)["hash"]).hex()
    except BlockNotFound:
        return None


def _handler(relayer: Relayer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/health":
                body, code, kind = json.dumps(relayer.health_json()).encode(), 200 if relayer.healthy() else 503, \
                    "application/json"
            elif self.path == "/metrics":
                body, code, kind = relayer.metrics_text().encode(), 200, "text/plain; version=0.0.4"
            else:
                body, code, kind = b"not found: try /health or /metrics\n", 404, "text/plain"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def run(config_path: Path, verify: TrustRoot | None = None) -> int:
    """`perpchain relayer --config FILE [--verify]`: run until SIGINT / SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        relayer = Relayer(RelayerConfig.load(config_path), verify=verify).start()
    except ConfigError as error:  # a bad config, key file or password: one line, no traceback
        log.error("cannot start: %s", error)
        return 2
    try:
        stop.wait()
    finally:
        relayer.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="perpchain relayer", description=__doc__.split("\n\n")[0])
    add_relayer_options(parser)
    args = parser.parse_args(argv)
    return run(args.config, trust_root(args) if args.verify else None)


if __name__ == "__main__":
    raise SystemExit(main())
