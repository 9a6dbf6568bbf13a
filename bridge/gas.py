"""Gas used by the Vault's operations, measured on a fresh anvil.

    .venv/bin/python -m bridge.gas

Prints one line per figure, then every figure as one JSON object on the last line. Withdrawals
carry the smallest quorum (3 of 4, 14 of 20 equal-power validators) unless the name says
"all_signers", and pay an address that held no tokens before (the dearer, common case). A fraud
proof forfeits the bond of the first of 20 validators (the whole ordered set shifts down one).
Anchors with bond debits: an empty record (no leaves), 3 of 4 signers, the list as named.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from web3 import Web3
from web3.contract import Contract

from bridge.eth import Anvil, BridgeDeployment, cover_withdrawals, deploy_bridge
from client.eth import transact
from modules.anchor.types import AnchorRecord, BondDebit, bond_debits_hash
from wire import vault as digests
from wire.anchor import anchor_digest, vault_bond_debits, vault_record
from wire.crypto import PrivateKey, keccak256

USDC = 1_000_000


def _keys(count: int, label: str) -> list[PrivateKey]:
    return sorted((PrivateKey(keccak256(f"{label}-{i}".encode())) for i in range(count)), key=lambda k: k.address)


def _quorum(count: int) -> int:
    """The fewest equal-power signers whose power exceeds 2/3 of the total."""
    return count * 2 // 3 + 1


def _withdraw_gas(
    node: Anvil, bridge: BridgeDeployment, keys: list[PrivateKey], withdrawal_id: int, signers: int
) -> int:
    recipient = PrivateKey(keccak256(b"recipient-%d-%d" % (len(keys), withdrawal_id))).address
    digest = digests.withdrawal_digest(bridge.chain_id, bridge.vault_address, withdrawal_id, recipient, USDC)
    sigs = digests.sign_quorum(keys[:signers], digest)
    call = bridge.vault.functions.withdraw(withdrawal_id, Web3.to_checksum_address(recipient), USDC, sigs)
    return transact(node.web3(), call, node.accounts[1].checksum)["gasUsed"]


def _anchor(nonce: int, total_micro_usdc: int, debits: Sequence[BondDebit] = ()) -> AnchorRecord:
    return AnchorRecord(nonce, "perpchain-localnet", 100 * nonce, bytes(32), bytes(32), total_micro_usdc, 0, 0, 0,
                        bond_debits_hash(keccak256, debits), 0, 0)


def _bond_debit_gas(node: Anvil, token: Contract, keys: list[PrivateKey]) -> dict[str, int]:
    """Anchors on a vault holding the 4 validators' genesis bonds, after a first one: no debits, 4 keys
    debited for the first time, the same 4 again unchanged, then grown; and the longest list (MAX_BOND_DEBITS keys,
    the 4 validators' and keys holding no bond), first written then unchanged."""
    w3, user = node.web3(), node.accounts[1].checksum
    bridge = deploy_bridge(w3, deployer=node.accounts[0].checksum, validators=[k.address for k in keys],
                           powers=[1] * len(keys), bonds=[100 * USDC] * len(keys), token=token)
    longest = sorted({k.address for k in keys} | {keccak256(b"key-%d" % i)[:20] for i in range(124)})
    lists: dict[str, list[BondDebit]] = {
        "first anchor (writes its slots from zero)": [],
        "anchor_no_bond_debits_gas": [],
        "anchor_4_bond_debits_new_gas": sorted((k.address, USDC) for k in keys),
        "anchor_4_bond_debits_unchanged_gas": sorted((k.address, USDC) for k in keys),
        "anchor_4_bond_debits_grown_gas": sorted((k.address, 2 * USDC) for k in keys),
        "anchor_128_bond_debits_new_gas": [(a, 3 * USDC) for a in longest],
        "anchor_128_bond_debits_unchanged_gas": [(a, 3 * USDC) for a in longest],
    }
    figures = {}
    for nonce, (name, debits) in enumerate(lists.items(), start=1):
        record = _anchor(nonce, 0, debits)
        sigs = digests.sign_quorum(keys[:_quorum(len(keys))], anchor_digest(bridge.chain_id, bridge.vault_address,
                                                                            record))
        call = bridge.vault.functions.anchor(vault_record(record), sigs, vault_bond_debits(debits))
        gas = transact(w3, call, user)["gasUsed"]
        if name.endswith("_gas"):
            figures[name] = gas
    return figures


def _fraud_proof_gas(node: Anvil, bridge: BridgeDeployment, keys: list[PrivateKey]) -> dict[str, int]:
    """Bond two validators, then prove each equivocating (anchors, then withdrawals)."""
    w3, user = node.web3(), node.accounts[1].checksum
    reporter = node.accounts[2].checksum
    transact(w3, bridge.token.functions.approve(bridge.vault.address, 2**256 - 1), user)
    figures = {}
    for name, key in (("bond_first_gas", keys[0]), ("bond_gas", keys[1])):  # totalBonded written from zero, then not
        call = bridge.vault.functions.bond(100 * USDC, Web3.to_checksum_address(key.address))
        figures[name] = transact(w3, call, user)["gasUsed"]
    a, b = _anchor(1, 0), _anchor(1, USDC)
    sign_anchor = [digests.split_signature(digests.sign(keys[0], anchor_digest(bridge.chain_id, bridge.vault_address,
                                                                               r))) for r in (a, b)]
    call = bridge.vault.functions.proveAnchorEquivocation(vault_record(a), sign_anchor[0], vault_record(b),
                                                         sign_anchor[1])
    figures["prove_anchor_equivocation_20_validators_gas"] = transact(w3, call, reporter)["gasUsed"]
    recipients = [PrivateKey(keccak256(b"thief-%d" % i)).address for i in range(2)]
    sign_withdrawal = [digests.split_signature(digests.sign(keys[1], digests.withdrawal_digest(
        bridge.chain_id, bridge.vault_address, 7, recipient, USDC))) for recipient in recipients]
    call = bridge.vault.functions.proveWithdrawalEquivocation(
        7, Web3.to_checksum_address(recipients[0]), USDC, sign_withdrawal[0],
        Web3.to_checksum_address(recipients[1]), USDC, sign_withdrawal[1])
    figures["prove_withdrawal_equivocation_19_validators_gas"] = transact(w3, call, reporter)["gasUsed"]
    return figures


def measure() -> dict[str, int]:
    figures: dict[str, int] = {}
    with Anvil() as node:
        w3 = node.web3()
        deployer, user = node.accounts[0], node.accounts[1]

        # Deposits: the first one writes the nonce and the vault's token balance from zero.
        keys4 = _keys(4, "validator")
        bridge = deploy_bridge(
            w3, deployer=deployer.checksum, validators=[k.address for k in keys4], powers=[1] * 4,
            mint={user.address: 1_000 * USDC},
        )  # fmt: skip
        transact(w3, bridge.token.functions.approve(bridge.vault.address, 2**256 - 1), user.checksum)
        deposit = bridge.vault.functions.deposit(10 * USDC, user.checksum, 0)
        figures["deposit_first_gas"] = transact(w3, deposit, user.checksum)["gasUsed"]
        figures["deposit_gas"] = transact(w3, deposit, user.checksum)["gasUsed"]

        # Withdrawals with 4 validators, then a hand-over to another 4.
        cover_withdrawals(w3, bridge, keys4, 2, 2 * USDC, user.checksum)
        figures["withdraw_4_validators_gas"] = _withdraw_gas(node, bridge, keys4, 1, _quorum(4))
        figures["withdraw_4_validators_all_signers_gas"] = _withdraw_gas(node, bridge, keys4, 2, 4)
        next4 = _keys(4, "next")
        powers = [1] * 4
        digest = digests.valset_digest(bridge.chain_id, bridge.vault_address, [k.address for k in next4], powers, 1)
        update = bridge.vault.functions.updateValset(
            [Web3.to_checksum_address(k.address) for k in next4], powers, 1, digests.sign_quorum(keys4[:3], digest)
        )
        figures["update_valset_4_to_4_gas"] = transact(w3, update, user.checksum)["gasUsed"]
        figures.update(_bond_debit_gas(node, bridge.token, keys4))

        # Withdrawals with 20 validators.
        keys20 = _keys(20, "validator")
        bridge20 = deploy_bridge(
            w3, deployer=deployer.checksum, validators=[k.address for k in keys20], powers=[1] * 20,
            token=bridge.token,
        )  # fmt: skip
        transact(w3, bridge.token.functions.mint(bridge20.vault.address, 100 * USDC), deployer.checksum)
        cover_withdrawals(w3, bridge20, keys20, 2, 2 * USDC, user.checksum)
        figures["withdraw_20_validators_gas"] = _withdraw_gas(node, bridge20, keys20, 1, _quorum(20))
        figures["withdraw_20_validators_all_signers_gas"] = _withdraw_gas(node, bridge20, keys20, 2, 20)
        figures.update(_fraud_proof_gas(node, bridge20, keys20))
    return figures


def main() -> None:
    figures = measure()
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:>9,}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
