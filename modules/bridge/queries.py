"""bridge's abci_query answers (JSON-ready dicts; module.py declares `/bridge/...`).

| path                         | answer                                                          |
| /bridge/status               | params, next deposit nonce, each validator's latest claim, withdrawal counters |
| /bridge/validators           | consensus address, operator, Ethereum key, power               |
| /bridge/deposits/<nonce>     | status (credited / pending / unclaimed), the claims and their powers |
| /bridge/withdrawals/<id>     | the withdrawal, its signatures ordered by signer (ready for Vault.withdraw) |
| /bridge/valsets/<nonce>      | the set (vault order), its signatures by set nonce - 1 ordered by signer (ready for Vault.updateValset) |
| /bridge/solvency             | the chain's total claim on the vault, term by term              |
| /bridge/halts/<id>           | a deposit halt: the disputed nonce, the resumes, what the resume corrected |
"""

from __future__ import annotations

from typing import Any

from modules.bank.keeper import BankKeeper
from modules.bridge.errors import BadBridgeQuery, UnknownDeposit, UnknownHalt, UnknownValset, UnknownWithdrawal
from modules.bridge.keeper import BridgeKeeper, supermajority
from modules.bridge.msg_server import canonical_content, dispute_power, resume_power, resume_ready
from modules.bridge.types import ClaimDeposit
from modules.funding.keeper import FundingKeeper
from modules.integers import U64_MAX, parse_uint
from modules.margin.keeper import MarginKeeper
from modules.store import KVStore


def _hex(raw: bytes) -> str:
    return f"0x{raw.hex()}"


def _claim_json(claim: ClaimDeposit) -> dict[str, Any]:
    return {"deposit_nonce": str(claim.deposit_nonce), "eth_block": str(claim.eth_block),
            "eth_tx_hash": _hex(claim.eth_tx_hash), "sender": _hex(claim.sender), "recipient": _hex(claim.recipient),
            "subaccount": claim.subaccount, "amount_micro_usdc": str(claim.amount_micro_usdc)}


def status(store: KVStore) -> dict[str, Any]:
    bridge = BridgeKeeper(store)
    params = bridge.params()
    current = bridge.deposit_halt()
    return {
        "enabled": params is not None,
        "eth_chain_id": params.eth_chain_id if params else None,
        "vault": _hex(params.vault) if params else None,
        "next_deposit_nonce": str(bridge.next_deposit_nonce()),
        "last_claims": {address.hex().upper(): str(nonce) for address, nonce in bridge.last_claims()},
        "next_withdrawal_id": str(bridge.next_withdrawal_id()),
        "withdrawn_total_micro_usdc": str(bridge.withdrawn_total()),
        "valset_nonce": str(bridge.valset_nonce()),
        "total_power": str(bridge.total_power()),
        "deposits_halted": current is not None,
        "deposit_halt": halt(store, current.halt_id) if current is not None else None,
        "last_halt_id": str(bridge.last_halt_id()),
        "deposit_shortfall_micro_usdc": str(bridge.shortfall()),
    }


def halt(store: KVStore, halt_id: int) -> dict[str, Any]:
    """A deposit halt: current (`status: halted`, with the disputes of its nonce and the resumes so
    far) or resumed (what the resume corrected, debited and could not debit)."""
    bridge = BridgeKeeper(store)
    total = bridge.total_power()
    resumes = [address.hex().upper() for address in bridge.resume_votes(halt_id)]
    current = bridge.deposit_halt()
    if current is not None and current.halt_id == halt_id:
        canonical = canonical_content(bridge, current.nonce)
        return {"halt_id": str(halt_id), "status": "halted", "nonce": str(current.nonce), "height": current.height,
                "dispute_power": str(dispute_power(bridge, current.nonce)),
                "canonical_content_hash": canonical.hex() if canonical is not None else None,
                "ready": resume_ready(bridge, current), "resumes": resumes,
                "resume_power": str(resume_power(bridge, halt_id)), "total_power": str(total)}
    resumed = bridge.resumed(halt_id)
    if resumed is None:
        raise UnknownHalt(f"no halt {halt_id}; the latest is {bridge.last_halt_id()}")
    height, corrected, debited, shortfall = resumed
    return {"halt_id": str(halt_id), "status": "resumed", "resumed_height": height, "corrected": str(corrected),
            "debited_micro_usdc": str(debited), "shortfall_micro_usdc": str(shortfall), "resumes": resumes,
            "resume_power": str(resume_power(bridge, halt_id)), "total_power": str(total)}


def validators(store: KVStore) -> dict[str, Any]:
    bridge = BridgeKeeper(store)
    return {"validators": [
        {"consensus_address": v.consensus_address.hex().upper(), "operator": _hex(v.operator),
         "eth_address": _hex(v.eth_address), "power": str(v.power),
         "last_claim": str(bridge.last_claim(v.consensus_address))} for v in bridge.validators()]}


def deposit(store: KVStore, nonce: int) -> dict[str, Any]:
    bridge = BridgeKeeper(store)
    credited = bridge.credited(nonce)
    claims = []
    for consensus_address, content_hash in bridge.claims(nonce):
        validator = bridge.validator(consensus_address)
        claims.append({"validator": consensus_address.hex().upper(), "content_hash": content_hash.hex(),
                       "power": str(validator.power if validator else 0),
                       "agrees": credited is not None and credited[0] == content_hash})
    if credited is not None:
        content = bridge.claim_content(nonce, credited[0])
        assert content is not None
        disputes = []
        for consensus_address, content_hash in bridge.disputes(nonce):
            validator, disputed = bridge.validator(consensus_address), bridge.claim_content(nonce, content_hash)
            assert disputed is not None
            disputes.append({"validator": consensus_address.hex().upper(), "content_hash": content_hash.hex(),
                             "power": str(validator.power if validator else 0), "deposit": _claim_json(disputed)})
        return {"nonce": str(nonce), "status": "credited", "credited_height": credited[1],
                "content_hash": credited[0].hex(), "deposit": _claim_json(content), "claims": claims,
                "disputes": disputes}
    if nonce < 1:
        raise UnknownDeposit("deposit nonces start at 1")
    return {"nonce": str(nonce), "status": "pending" if claims else "unclaimed", "credited_height": None,
            "deposit": None, "claims": claims}


def withdrawal(store: KVStore, withdrawal_id: int) -> dict[str, Any]:
    """`vault_signatures`: (r, s, v) ordered by signer address, as Vault.withdraw takes them. A
    signature by a key its validator has since rotated away is listed with power 0 (the validator
    signs again with its new key; the relayer sends the vault only the keys it holds)."""
    bridge = BridgeKeeper(store)
    found = bridge.withdrawal(withdrawal_id)
    if found is None:
        raise UnknownWithdrawal(f"no withdrawal {withdrawal_id}; the next id is {bridge.next_withdrawal_id()}")
    signed = []
    for consensus_address, signature, signer in bridge.signatures(withdrawal_id):
        validator = bridge.validator(consensus_address)
        assert validator is not None
        signed.append((signer, consensus_address, validator.power if signer == validator.eth_address else 0,
                       signature))
    signed.sort()
    power, total = bridge.signed_power(withdrawal_id), bridge.total_power()
    return {
        "withdrawal_id": str(withdrawal_id), "owner": _hex(found.owner.address), "subaccount": found.owner.number,
        "recipient": _hex(found.recipient), "amount_micro_usdc": str(found.amount_micro_usdc), "height": found.height,
        "signatures": [{"validator": c.hex().upper(), "eth_address": _hex(e), "power": str(p), "signature": s.hex()}
                       for e, c, p, s in signed],
        "signed_power": str(power), "total_power": str(total), "ready": supermajority(power, total),
        "vault_signatures": [["0x" + s[:32].hex(), "0x" + s[32:64].hex(), s[64]] for _, _, _, s in signed],
    }


def valset(store: KVStore, nonce: int) -> dict[str, Any]:
    """Set `nonce` as Vault.updateValset takes it, with the signatures of set `nonce - 1`
    (`vault_signatures` ordered by signer address, as the vault requires)."""
    bridge = BridgeKeeper(store)
    found = bridge.valset(nonce)
    if found is None:
        raise UnknownValset(f"no validator set {nonce}; the latest is {bridge.valset_nonce()}")
    addresses, powers = found.vault_order()
    answer: dict[str, Any] = {"valset_nonce": str(nonce), "validators": [_hex(a) for a in addresses],
                              "powers": [str(p) for p in powers], "total_power": str(found.total_power)}
    signing = bridge.valset(nonce - 1) if nonce >= 1 else None
    if signing is None:
        return answer | {"signatures": [], "signed_power": "0", "signing_power": "0", "ready": False,
                         "vault_signatures": []}
    signed = sorted((member.eth_address, member.consensus_address, member.power, signature)
                    for consensus_address, signature in bridge.valset_signatures(nonce)
                    if (member := signing.member(consensus_address)) is not None)
    power = sum(s[2] for s in signed)
    return answer | {
        "signatures": [{"validator": c.hex().upper(), "eth_address": _hex(e), "power": str(p), "signature": s.hex()}
                       for e, c, p, s in signed],
        "signed_power": str(power), "signing_power": str(signing.total_power),
        "ready": supermajority(power, signing.total_power),
        "vault_signatures": [["0x" + s[:32].hex(), "0x" + s[32:64].hex(), s[64]] for _, _, _, s in signed],
    }


def solvency(store: KVStore) -> dict[str, Any]:
    """The chain's total claim on the vault (docs/bridge.md, Solvency):
        Σ balances (every subaccount, module accounts included) − Σ position costs + funding pool.
    Positions' unrealized PnL is Σ (size × price − cost); sizes sum to zero in every market, so it
    nets to −Σ cost whatever the price. The vault should hold this plus the withdrawals queued but
    not yet paid plus the deposits not yet credited (the client adds both from Ethereum); its bonds
    are on top, less what slashing released into this claim (bonds_released, docs/staking.md)."""
    bank = BankKeeper(store)
    balances = sum(b.amount_micro_usdc for b in bank.balances())
    costs = sum(p.cost_micro_usdc for p in MarginKeeper(store).all_positions())
    pool = FundingKeeper(store).pool()
    bridge = BridgeKeeper(store)
    return {
        "balances_micro_usdc": str(balances), "position_costs_micro_usdc": str(costs),
        "funding_pool_micro_usdc": str(pool), "chain_claim_micro_usdc": str(balances - costs + pool),
        "withdrawn_total_micro_usdc": str(bridge.withdrawn_total()),
        "withdrawal_count": str(bridge.next_withdrawal_id() - 1),
        "credited_deposit_nonce": str(bridge.next_deposit_nonce() - 1),
        "deposit_shortfall_micro_usdc": str(bridge.shortfall()),
        "bonds_released_micro_usdc": str(bridge.bonds_released()),
    }


def answer(store: KVStore, args: list[str]) -> dict[str, Any]:
    """Route `/bridge/<args...>`."""
    if args == ["status"]:
        return status(store)
    if args == ["validators"]:
        return validators(store)
    if args == ["solvency"]:
        return solvency(store)
    by_number = {"deposits": (deposit, "deposit nonce"), "withdrawals": (withdrawal, "withdrawal id"),
                 "valsets": (valset, "valset nonce"), "halts": (halt, "halt id")}
    if len(args) == 2 and args[0] in by_number:
        handler, name = by_number[args[0]]
        return handler(store, parse_uint(args[1], name, 0, U64_MAX))
    raise BadBridgeQuery("bridge paths: /bridge/status, /bridge/validators, /bridge/solvency, "
                         "/bridge/deposits/<nonce>, /bridge/withdrawals/<id>, /bridge/valsets/<nonce>, "
                         "/bridge/halts/<id>")
