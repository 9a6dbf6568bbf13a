"""Gas of the vault's anchor and escape-hatch operations, measured on a fresh anvil.

    .venv/bin/python -m bridge.anchor_gas

The tree has 100,000 leaves (the `anchor` benchmark's size), so an exit carries a 17-node proof.
Four validators of equal power; an anchor carries the smallest quorum (3) unless the name says
"all_signers". Prints one line per figure, then every figure as one JSON object on the last line.
"""

from __future__ import annotations

import json

from web3 import Web3

from bridge.eth import Anvil, anvil_rpc, deploy_bridge
from client.eth import send_eth_transaction, transact
from modules.anchor.merkle import BalanceTree, Leaf
from modules.anchor.types import AnchorRecord
from wire import vault as digests
from wire.anchor import NO_BOND_DEBITS_HASH, anchor_digest, vault_record
from wire.crypto import PrivateKey, keccak256

USDC = 1_000_000
LEAVES = 100_000
FREEZE_S = 3_600


def measure(leaves: int = LEAVES) -> dict[str, int]:
    figures: dict[str, int] = {}
    keys = sorted((PrivateKey(keccak256(f"validator-{i}".encode())) for i in range(4)), key=lambda k: k.address)
    trader = PrivateKey(keccak256(b"gas trader"))
    tree = BalanceTree(keccak256, [Leaf(trader.address, 1_000 * USDC)] + [
        Leaf(keccak256(i.to_bytes(8, "big"))[:20], USDC + i) for i in range(1, leaves)])
    with Anvil() as node:
        w3 = node.web3()
        deployer, user = node.accounts[0], node.accounts[1]
        bridge = deploy_bridge(w3, deployer=deployer.checksum, validators=[k.address for k in keys], powers=[1] * 4,
                               mint={user.address: 1_000 * USDC}, freeze_period_s=FREEZE_S)
        # The vault must hold what the anchored leaves claim, or it refuses the anchor.
        transact(w3, bridge.token.functions.mint(bridge.vault.address, tree.total_micro_usdc), deployer.checksum)
        transact(w3, bridge.token.functions.approve(bridge.vault.address, 2**256 - 1), user.checksum)
        deposit = bridge.vault.functions.deposit(10 * USDC, user.checksum, 0)
        figures["deposit_gas"] = transact(w3, deposit, user.checksum)["gasUsed"]

        def anchor(nonce: int, signers: int) -> int:
            record = AnchorRecord(nonce, "perpchain-localnet", 100 * nonce, bytes(32), tree.root, tree.total_micro_usdc,
                                  deposit_nonce=1, withdrawal_id=0, withdrawn_total_micro_usdc=0,
                                  bond_debits_hash=NO_BOND_DEBITS_HASH, leaf_count=len(tree), time_ms=0)
            sigs = digests.sign_quorum(keys[:signers], anchor_digest(bridge.chain_id, bridge.vault_address, record))
            return transact(w3, bridge.vault.functions.anchor(vault_record(record), sigs, []), user.checksum)["gasUsed"]

        figures["anchor_first_gas"] = anchor(1, 3)
        figures["anchor_gas"] = anchor(2, 3)
        figures["anchor_all_signers_gas"] = anchor(3, 4)
        transact(w3, deposit, user.checksum)  # nonce 2: after the anchor, reclaimable
        anvil_rpc(w3, "evm_increaseTime", FREEZE_S + 1)
        anvil_rpc(w3, "evm_mine")
        figures["freeze_gas"] = transact(w3, bridge.vault.functions.freeze(), user.checksum)["gasUsed"]
        anvil_rpc(w3, "anvil_setBalance", Web3.to_checksum_address(trader.address), hex(10**18))
        proof = tree.proof(trader.address)
        call = bridge.vault.functions.exit(1_000 * USDC, proof)
        figures[f"exit_{leaves}_leaves_gas"] = send_eth_transaction(w3, trader, call)["gasUsed"]
        figures["exit_proof_nodes"] = len(proof)
        figures["reclaim_gas"] = transact(w3, bridge.vault.functions.reclaim(2), user.checksum)["gasUsed"]
    return figures


def main() -> None:
    figures = measure()
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:>9,}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
