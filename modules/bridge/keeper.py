"""bridge's keeper: the only code that reads and writes `bridge/` keys."""

from __future__ import annotations

from typing import Iterator

from modules.bridge.keys import (
    BONDS_RELEASED,
    CLAIM,
    CREDITED,
    DEPOSIT_HALT,
    DISPUTE,
    ETH_KEY,
    LAST_CLAIM,
    LAST_HALT,
    NEXT_DEPOSIT,
    NEXT_WITHDRAWAL,
    OPEN_DISPUTES,
    OPERATOR,
    PARAMS,
    RESUME_VOTE,
    RESUMED,
    SHORTFALL,
    SIGNATURE,
    STORE_PREFIX,
    VALIDATOR,
    VALSET,
    VALSET_NONCE,
    VALSET_SIGNATURE,
    WITHDRAWN_TOTAL,
    claim_key,
    content_key,
    dispute_key,
    resume_vote_key,
    signature_key,
    valset_signature_key,
    withdrawal_key,
)
from modules.bridge.types import (
    BridgeParams,
    BridgeValidator,
    ClaimDeposit,
    DepositHalt,
    Valset,
    Withdrawal,
    decode_claim,
    encode_claim,
)
from modules.encoding import read_subaccount, read_uint, stored_uint, subaccount_bytes, u64, u128
from modules.store import KVStore, PrefixStore, prefix_end
from modules.types import SubaccountId


class BridgeKeeper:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    # -- params and validators ----------------------------------------------------------------

    def params(self) -> BridgeParams | None:
        """None when the genesis configured no bridge."""
        raw = self._store.get(PARAMS)
        return BridgeParams(read_uint(raw[:8]), raw[8:28]) if raw is not None else None

    def set_params(self, params: BridgeParams) -> None:
        self._store.set(PARAMS, u64(params.eth_chain_id) + params.vault)

    def validators(self) -> Iterator[BridgeValidator]:
        """In consensus-address order."""
        for key, raw in self._store.iterate(VALIDATOR, prefix_end(VALIDATOR)):
            yield BridgeValidator(key[len(VALIDATOR):], raw[:20], raw[20:40], read_uint(raw[40:48]))

    def validator(self, consensus_address: bytes) -> BridgeValidator | None:
        raw = self._store.get(VALIDATOR + consensus_address)
        return BridgeValidator(consensus_address, raw[:20], raw[20:40], read_uint(raw[40:48])) if raw else None

    def validator_of_operator(self, operator: bytes) -> BridgeValidator | None:
        consensus_address = self._store.get(OPERATOR + operator)
        return self.validator(consensus_address) if consensus_address is not None else None

    def eth_key_holder(self, eth_address: bytes) -> bytes | None:
        """The consensus address of the validator that holds or once held `eth_address` as its
        bridge key: a key is never handed to another validator, so a signature by it is always
        the one validator's (what an equivocation report charges, docs/staking.md)."""
        return self._store.get(ETH_KEY + eth_address)

    def set_validator(self, validator: BridgeValidator) -> None:
        before = self.validator(validator.consensus_address)
        if before is not None:
            self._store.delete(OPERATOR + before.operator)
        self._store.set(VALIDATOR + validator.consensus_address,
                        validator.operator + validator.eth_address + u64(validator.power))
        self._store.set(OPERATOR + validator.operator, validator.consensus_address)
        self._store.set(ETH_KEY + validator.eth_address, validator.consensus_address)

    def total_power(self) -> int:
        return sum(v.power for v in self.validators())

    def valset_nonce(self) -> int:
        return stored_uint(self._store.get(VALSET_NONCE))

    def record_valset(self, nonce: int) -> Valset:
        """Snapshot the validators with power as set `nonce` (0 at genesis: the vault's constructor
        set); a jailed validator (power 0) is out of it."""
        valset = Valset(nonce, tuple(v for v in self.validators() if v.power > 0))
        self._store.set(VALSET + u64(nonce), b"".join(
            m.consensus_address + m.operator + m.eth_address + u64(m.power) for m in valset.members))
        self._store.set(VALSET_NONCE, u64(nonce))
        return valset

    def valset(self, nonce: int) -> Valset | None:
        raw = self._store.get(VALSET + u64(nonce))
        if raw is None:
            return None
        members = tuple(BridgeValidator(raw[i:i + 20], raw[i + 20:i + 40], raw[i + 40:i + 60],
                                        read_uint(raw[i + 60:i + 68]))
                        for i in range(0, len(raw), 68))
        return Valset(nonce, members)

    def valset_signatures(self, nonce: int) -> list[tuple[bytes, bytes]]:
        """(consensus address, 65-byte signature) for set `nonce`, in address order."""
        start = VALSET_SIGNATURE + u64(nonce)
        return [(key[len(start):], value) for key, value in self._store.iterate(start, prefix_end(start))]

    def valset_signature(self, nonce: int, consensus_address: bytes) -> bytes | None:
        return self._store.get(valset_signature_key(nonce, consensus_address))

    def add_valset_signature(self, nonce: int, consensus_address: bytes, signature: bytes) -> None:
        self._store.set(valset_signature_key(nonce, consensus_address), signature)

    # -- deposits -----------------------------------------------------------------------------

    def next_deposit_nonce(self) -> int:
        """The nonce the tally waits for: every nonce below it is credited (the first is 1)."""
        return stored_uint(self._store.get(NEXT_DEPOSIT), 1)

    def set_next_deposit_nonce(self, nonce: int) -> None:
        self._store.set(NEXT_DEPOSIT, u64(nonce))

    def last_claim(self, consensus_address: bytes) -> int:
        return stored_uint(self._store.get(LAST_CLAIM + consensus_address))

    def record_claim(self, consensus_address: bytes, claim: ClaimDeposit) -> bytes:
        """Store the validator's claim (and the content, once per distinct content); its content hash."""
        content_hash = claim.content_hash()
        self._store.set(claim_key(claim.deposit_nonce, consensus_address), content_hash)
        self._store.set(content_key(claim.deposit_nonce, content_hash), encode_claim(claim))
        self._store.set(LAST_CLAIM + consensus_address, u64(claim.deposit_nonce))
        return content_hash

    def claims(self, nonce: int) -> list[tuple[bytes, bytes]]:
        """(consensus address, content hash) of every claim for `nonce`, in address order."""
        start = CLAIM + u64(nonce)
        return [(key[len(start):], value) for key, value in self._store.iterate(start, prefix_end(start))]

    def claim_content(self, nonce: int, content_hash: bytes) -> ClaimDeposit | None:
        raw = self._store.get(content_key(nonce, content_hash))
        return decode_claim(raw) if raw is not None else None

    def credited(self, nonce: int) -> tuple[bytes, int] | None:
        """(content hash, height) of a credited deposit."""
        raw = self._store.get(CREDITED + u64(nonce))
        return (raw[:32], read_uint(raw[32:40])) if raw is not None else None

    def set_credited(self, nonce: int, content_hash: bytes, height: int) -> None:
        """Credited now, under the valset in force (whose powers attested it)."""
        self._store.set(CREDITED + u64(nonce), content_hash + u64(height) + u64(self.valset_nonce()))

    def credited_valset(self, nonce: int) -> int | None:
        """The valset nonce in force when deposit `nonce` was credited: its powers attested it."""
        raw = self._store.get(CREDITED + u64(nonce))
        return read_uint(raw[40:48]) if raw is not None else None

    def last_claims(self) -> Iterator[tuple[bytes, int]]:
        for key, raw in self._store.iterate(LAST_CLAIM, prefix_end(LAST_CLAIM)):
            yield key[len(LAST_CLAIM):], read_uint(raw)

    def claim_of(self, nonce: int, consensus_address: bytes) -> bytes | None:
        """The content hash the validator claims for `nonce`, if it claimed it."""
        return self._store.get(claim_key(nonce, consensus_address))

    def replace_claim(self, consensus_address: bytes, claim: ClaimDeposit) -> bytes:
        """The validator's claim for an uncredited nonce it claimed before, with another content (its
        latest claimed nonce stays); its content hash."""
        content_hash = claim.content_hash()
        self._store.set(claim_key(claim.deposit_nonce, consensus_address), content_hash)
        self._store.set(content_key(claim.deposit_nonce, content_hash), encode_claim(claim))
        return content_hash

    def drop_content_if_unused(self, nonce: int, content_hash: bytes) -> None:
        """Forget a content no claim, dispute or credit of `nonce` refers to any more."""
        credited = self.credited(nonce)
        if credited is not None and credited[0] == content_hash:
            return
        referenced = [h for _, h in self.claims(nonce)] + [h for _, h in self.disputes(nonce)]
        if content_hash not in referenced:
            self._store.delete(content_key(nonce, content_hash))

    # -- disputes, halts and resumes (docs/bridge.md, "Deposit halts") ----------------------------

    def disputes(self, nonce: int) -> list[tuple[bytes, bytes]]:
        """(consensus address, content hash) of every claim of credited `nonce` with another content."""
        start = DISPUTE + u64(nonce)
        return [(key[len(start):], value) for key, value in self._store.iterate(start, prefix_end(start))]

    def dispute(self, nonce: int, consensus_address: bytes) -> bytes | None:
        return self._store.get(dispute_key(nonce, consensus_address))

    def set_dispute(self, consensus_address: bytes, claim: ClaimDeposit) -> bytes:
        """Record (or replace) the validator's dispute of a credited nonce; its content hash."""
        content_hash = claim.content_hash()
        key = dispute_key(claim.deposit_nonce, consensus_address)
        if self._store.get(key) is None:
            self._set_open_disputes(consensus_address, self.open_disputes(consensus_address) + 1)
        self._store.set(key, content_hash)
        self._store.set(content_key(claim.deposit_nonce, content_hash), encode_claim(claim))
        return content_hash

    def delete_dispute(self, nonce: int, consensus_address: bytes) -> None:
        key = dispute_key(nonce, consensus_address)
        if self._store.get(key) is not None:
            self._store.delete(key)
            self._set_open_disputes(consensus_address, self.open_disputes(consensus_address) - 1)

    def open_disputes(self, consensus_address: bytes) -> int:
        """How many credited nonces the validator disputes now."""
        return stored_uint(self._store.get(OPEN_DISPUTES + consensus_address))

    def _set_open_disputes(self, consensus_address: bytes, count: int) -> None:
        if count:
            self._store.set(OPEN_DISPUTES + consensus_address, u64(count))
        else:
            self._store.delete(OPEN_DISPUTES + consensus_address)

    def disputed_nonces(self) -> list[int]:
        """Credited nonces with at least one dispute, ascending."""
        nonces: list[int] = []
        for key, _ in self._store.iterate(DISPUTE, prefix_end(DISPUTE)):
            nonce = read_uint(key[len(DISPUTE):len(DISPUTE) + 8])
            if not nonces or nonces[-1] != nonce:
                nonces.append(nonce)
        return nonces

    def deposit_halt(self) -> DepositHalt | None:
        raw = self._store.get(DEPOSIT_HALT)
        return DepositHalt(read_uint(raw[:8]), read_uint(raw[8:16]), read_uint(raw[16:24])) if raw is not None else None

    def halt_deposits(self, nonce: int, height: int) -> DepositHalt:
        halt = DepositHalt(self.last_halt_id() + 1, nonce, height)
        self._store.set(DEPOSIT_HALT, u64(halt.halt_id) + u64(nonce) + u64(height))
        self._store.set(LAST_HALT, u64(halt.halt_id))
        return halt

    def clear_halt(self) -> None:
        self._store.delete(DEPOSIT_HALT)

    def last_halt_id(self) -> int:
        return stored_uint(self._store.get(LAST_HALT))

    def resume_votes(self, halt_id: int) -> list[bytes]:
        """Consensus addresses whose operator sent a resume for `halt_id`, in address order."""
        start = RESUME_VOTE + u64(halt_id)
        return [key[len(start):] for key, _ in self._store.iterate(start, prefix_end(start))]

    def add_resume_vote(self, halt_id: int, consensus_address: bytes, height: int) -> None:
        self._store.set(resume_vote_key(halt_id, consensus_address), u64(height))

    def record_resumed(self, halt_id: int, height: int, corrected: int, debited: int, shortfall: int) -> None:
        self._store.set(RESUMED + u64(halt_id), u64(height) + u64(corrected) + u128(debited) + u128(shortfall))

    def resumed(self, halt_id: int) -> tuple[int, int, int, int] | None:
        """(height, corrected nonces, micro-USDC debited, shortfall) of a resumed halt."""
        raw = self._store.get(RESUMED + u64(halt_id))
        if raw is None:
            return None
        return read_uint(raw[:8]), read_uint(raw[8:16]), read_uint(raw[16:32]), read_uint(raw[32:48])

    def shortfall(self) -> int:
        """micro-USDC credited by deposits later found not on Ethereum's chain that no balance was
        left to take back: the chain's claim exceeds what the vault received by this much."""
        return stored_uint(self._store.get(SHORTFALL))

    def add_shortfall(self, amount_micro_usdc: int) -> None:
        if amount_micro_usdc:
            self._store.set(SHORTFALL, u128(self.shortfall() + amount_micro_usdc))

    def bonds_released(self) -> int:
        """micro-USDC of bonds slashed into the chain's ledger (the insurance fund): vault money
        that was a bond and is now part of the chain's claim."""
        return stored_uint(self._store.get(BONDS_RELEASED))

    def add_bonds_released(self, amount_micro_usdc: int) -> None:
        self._store.set(BONDS_RELEASED, u128(self.bonds_released() + amount_micro_usdc))

    # -- withdrawals --------------------------------------------------------------------------

    def next_withdrawal_id(self) -> int:
        return stored_uint(self._store.get(NEXT_WITHDRAWAL), 1)

    def withdrawn_total(self) -> int:
        """micro-USDC of every withdrawal ever queued (paid by the vault or not)."""
        return stored_uint(self._store.get(WITHDRAWN_TOTAL))

    def queue_withdrawal(self, owner: SubaccountId, recipient: bytes, amount_micro_usdc: int, height: int) -> Withdrawal:
        withdrawal = Withdrawal(self.next_withdrawal_id(), owner, recipient, amount_micro_usdc, height)
        self._store.set(withdrawal_key(withdrawal.withdrawal_id),
                        subaccount_bytes(owner) + recipient + u128(amount_micro_usdc) + u64(height))
        self._store.set(NEXT_WITHDRAWAL, u64(withdrawal.withdrawal_id + 1))
        self._store.set(WITHDRAWN_TOTAL, u128(self.withdrawn_total() + amount_micro_usdc))
        return withdrawal

    def withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        raw = self._store.get(withdrawal_key(withdrawal_id))
        if raw is None:
            return None
        return Withdrawal(withdrawal_id, read_subaccount(raw), raw[21:41], read_uint(raw[41:57]), read_uint(raw[57:65]))

    def signatures(self, withdrawal_id: int) -> list[tuple[bytes, bytes, bytes]]:
        """(consensus address, 65-byte signature, the Ethereum key that made it), in address order."""
        start = SIGNATURE + u64(withdrawal_id)
        return [(key[len(start):], value[:65], value[65:85])
                for key, value in self._store.iterate(start, prefix_end(start))]

    def signer(self, withdrawal_id: int, consensus_address: bytes) -> bytes | None:
        """The Ethereum key behind the validator's recorded signature (its key when it signed)."""
        raw = self._store.get(signature_key(withdrawal_id, consensus_address))
        return raw[65:85] if raw is not None else None

    def add_signature(self, withdrawal_id: int, consensus_address: bytes, signature: bytes, signer: bytes) -> None:
        """Record (or replace, after a key rotation) the validator's signature."""
        self._store.set(signature_key(withdrawal_id, consensus_address), signature + signer)

    def signed_power(self, withdrawal_id: int) -> int:
        """Power of the validators whose recorded signature is by their current key."""
        total = 0
        for consensus_address, _, signer in self.signatures(withdrawal_id):
            validator = self.validator(consensus_address)
            total += validator.power if validator is not None and validator.eth_address == signer else 0
        return total


def supermajority(power: int, total_power: int) -> bool:
    """More than 2/3 of the total, as the vault counts it (`signed * 3 > total * 2`)."""
    return total_power > 0 and power * 3 > total_power * 2
