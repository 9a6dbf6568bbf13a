"""Crash safety: the app is SIGKILLed at random moments under a stream of transfers.

CometBFT stops itself when its app connection breaks (or is killed when its shutdown hangs), so
each round restarts the app and then cometbft, whose handshake replays whatever blocks the app had not committed. Afterwards:

- the chain's blocks are the ledger: every transfer in them succeeded, none appears twice, and
  re-broadcasting every tx we ever sent credits nothing again (the nonce is spent);
- balances equal genesis plus exactly the transfers in the blocks;
- a fresh app with an empty store, replaying the same chain from genesis, reaches the same app
  hash at the same height.
"""

from __future__ import annotations

import base64
import hashlib
import random
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.oracle_votes import is_oracle_tx
from app.store import CommitInfo, CommittedStore
from client import Client, PrivateKey, SubaccountId, Transfer, TxRejected
from modules.auth.errors import NonceAlreadyUsed, NonceTooOld
from tests.harness import LocalChain, wait_until

pytestmark = pytest.mark.integration

KILLS = 5
GENESIS_MICRO_USDC = 1_000 * 1_000_000


@dataclass(frozen=True)
class SentTransfer:
    raw: bytes
    sender: bytes
    recipient: SubaccountId
    amount: int

    @property
    def tx_hash(self) -> str:
        return hashlib.sha256(self.raw).hexdigest().upper()


@dataclass
class TransferStream:
    """Sends small transfers round-robin between the funded accounts until stopped.

    A broadcast that fails (the node is down) still counts as sent: whether it reached a block
    is settled afterwards from the blocks themselves, never from what the sender believed.
    """

    chain: LocalChain
    rng: random.Random
    sent: list[SentTransfer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        keys = self.chain.keys
        with Client(self.chain.rpc_url, timeout_s=2.0) as client:
            while not self.stop.is_set():
                sender = self.rng.choice(keys)
                owner = self.rng.choice(keys)
                number = self.rng.randrange(1 if owner is sender else 0, 3)  # never to itself
                recipient = SubaccountId(owner.address, number)
                amount = self.rng.randrange(1, 1_000_000)
                try:
                    raw = client.build(sender, [Transfer(from_subaccount=0, to=recipient, amount_micro_usdc=amount)])
                except Exception:  # the node is down: chain id not known yet
                    time.sleep(0.05)
                    continue
                self.sent.append(SentTransfer(raw, sender.address, recipient, amount))
                try:
                    client.submit(raw)
                except Exception:
                    time.sleep(0.05)


def test_app_killed_five_times_loses_nothing_and_matches_a_fresh_replay(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    print(f"crash test seed {seed}")
    rng = random.Random(seed)
    chain = LocalChain.create(tmp_path / "node", accounts=3)
    replica: LocalChain | None = None
    try:
        chain.start(min_height=2)
        stream = TransferStream(chain, random.Random(rng.randrange(2**32)))
        sender = threading.Thread(target=stream.run, daemon=True)
        sender.start()

        heights_at_kill = []
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            heights_at_kill.append(_height_or_zero(chain))
            chain.kill_app(signal.SIGKILL)
            _await_cometbft_exit(chain)
            chain.start_app()
            chain.start_cometbft()
            chain.wait_for_height(heights_at_kill[-1] + 1)

        stream.stop.set()
        sender.join(timeout=10)
        assert not sender.is_alive()
        assert len(stream.sent) > 50, "the stream hardly ran; the test would prove little"

        with chain.client() as client:
            _wait_for_empty_mempool(client)
        # A clean restart empties CometBFT's cache of seen txs, so the app's nonce check alone
        # must refuse each tx offered again below.
        chain.stop()
        chain.start(min_height=_last_commit(chain.data).height + 1)
        with chain.client() as client:
            in_blocks = _included(client, stream.sent)
            for transfer in stream.sent:
                if transfer.tx_hash in in_blocks:
                    with pytest.raises(TxRejected) as rejected:
                        client.submit(transfer.raw)
                    assert rejected.value.code in (NonceAlreadyUsed.code, NonceTooOld.code)
                else:  # never landed: it may land now, unless newer nonces have pushed it out of the window
                    try:
                        client.submit(transfer.raw)
                    except TxRejected as refused:
                        assert refused.code == NonceTooOld.code
            _wait_for_empty_mempool(client)
            in_blocks = _included(client, stream.sent)

            expected = _expected_balances(chain.keys, [t for t in stream.sent if t.tx_hash in in_blocks])
            for (address, number), amount in expected.items():
                assert client.balance("0x" + address.hex(), number).amount_micro_usdc == amount
            assert client.query("/bank/supply") == {"supply_micro_usdc": str(3 * GENESIS_MICRO_USDC)}
        replays = (chain.root / "cometbft.log").read_text().count("Replay last block using real app")
        print(f"kills at heights {heights_at_kill}; {replays} restarts replayed a block the app had not "
              f"committed; {len(in_blocks)} of {len(stream.sent)} sent txs in blocks")

        chain.stop()
        last = _last_commit(chain.data)
        assert last.height > max(heights_at_kill)

        replica = _fresh_replica_of(chain, tmp_path / "replica")
        replica.start(min_height=last.height + 1)
        with replica.client() as client:
            header = client.rpc.call("block", height=str(last.height + 1))["block"]["header"]
        assert header["app_hash"] == last.app_hash.hex().upper()
    finally:
        chain.stop()
        if replica is not None:
            replica.stop()


def _await_cometbft_exit(chain: LocalChain) -> None:
    """CometBFT stops itself once its app connection breaks, but can hang in shutdown when the
    app died inside Commit; after a grace period it gets SIGKILL too, as a supervisor would."""
    process = chain.cometbft_process
    assert process is not None
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        chain.stop_cometbft(signal.SIGKILL)
    chain.cometbft_process = None


def _height_or_zero(chain: LocalChain) -> int:
    try:
        with chain.client() as client:
            return client.height()
    except Exception:
        return 0


def _wait_for_empty_mempool(client: Client) -> None:
    wait_until(lambda: int(client.rpc.call("num_unconfirmed_txs")["n_txs"]) == 0, 30, "empty mempool")
    client.wait_for_height(client.height() + 1)


def _included(client: Client, sent: list[SentTransfer]) -> set[str]:
    """Hashes of our txs found in the chain's blocks, each checked to have succeeded and to appear once."""
    ours = {t.tx_hash for t in sent}
    seen: list[str] = []
    for height in range(1, client.height() + 1):
        block = client.rpc.call("block", height=str(height))["block"]
        txs = block["data"]["txs"] or []
        if not txs:
            continue
        results = client.rpc.call("block_results", height=str(height))["txs_results"]
        for encoded, result in zip(txs, results, strict=True):
            raw = base64.b64decode(encoded)
            if is_oracle_tx(raw):  # the proposer's vote-extension tx, not a transfer
                continue
            tx_hash = hashlib.sha256(raw).hexdigest().upper()
            assert tx_hash in ours, f"a tx nobody sent is in block {height}"
            assert int(result.get("code", 0)) == 0, f"tx {tx_hash} failed in block {height}: {result.get('log')}"
            seen.append(tx_hash)
    assert len(seen) == len(set(seen)), "a tx was included twice"
    return set(seen)


def _expected_balances(keys: list[PrivateKey], landed: list[SentTransfer]) -> dict[tuple[bytes, int], int]:
    balances = {(k.address, n): 0 for k in keys for n in range(3)}
    for key in keys:
        balances[(key.address, 0)] = GENESIS_MICRO_USDC
    for transfer in landed:
        balances[(transfer.sender, 0)] -= transfer.amount
        balances[(transfer.recipient.address, transfer.recipient.number)] += transfer.amount
    return balances


def _last_commit(data_dir: Path) -> CommitInfo:
    store = CommittedStore(data_dir)
    try:
        return store.last_commit()
    finally:
        store.close()


def _fresh_replica_of(chain: LocalChain, root: Path) -> LocalChain:
    """The same CometBFT home (genesis, blocks, validator key) beside an empty app store, on new ports."""
    shutil.copytree(chain.home, root / "cometbft")
    replica = LocalChain(root=root, funded=chain.funded, chain_id=chain.chain_id)
    replica.configure()
    return replica
