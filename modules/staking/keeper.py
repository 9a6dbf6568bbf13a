"""staking's keeper: the only code that reads and writes `staking/` keys."""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import Iterator

from modules.encoding import read_uint, stored_uint, u64, u128
from modules.params import decode_params, encode_params
from modules.staking.errors import InvalidStakingGenesis
from modules.staking.keys import (
    BOND_DEBIT,
    BOND_DEBITS_UNLISTED,
    BONDED_TOTAL,
    CONSENSUS_UPDATE,
    FORFEITED,
    MISSED_BITS,
    MISSED_CHUNK_BITS,
    NEXT_UNBONDING_ID,
    OPERATOR,
    PARAMS,
    PENDING_BOND,
    SIGNING,
    SLASHED_TOTAL,
    STORE_PREFIX,
    UNBONDED_TOTAL,
    UNBONDING,
    UNBONDING_QUEUE,
    VALIDATOR,
    WITHHELD_TOTAL,
    consensus_update_key,
    missed_chunk_key,
    unbonding_key,
    unbonding_queue_key,
    validator_key,
)
from modules.staking.params import StakingParams
from modules.staking.types import SigningWindow, StakingValidator, UnbondingEntry
from modules.store import KVStore, PrefixStore, prefix_end

_SIGNING_HEAD = struct.Struct(">QII")
MAX_BOND_DEBITS = 128
"""Vault.MAX_BOND_DEBITS: the most keys an anchor's debit list names. One entry per bridge key ever
debited; with no key rotation after a slash that is at most the validators (MAX_VALIDATORS)."""


def _encode(v: StakingValidator) -> bytes:
    return (v.pub_key + v.operator + u128(v.bond_micro_usdc) + u64(v.power) + bytes([v.jailed])
            + u64(v.jailed_until_height) + bytes([v.tombstoned]) + u128(v.slashed_micro_usdc))


def _decode(consensus_address: bytes, raw: bytes) -> StakingValidator:
    return StakingValidator(consensus_address, raw[:32], raw[32:52], read_uint(raw[52:68]), read_uint(raw[68:76]),
                            bool(raw[76]), read_uint(raw[77:85]), bool(raw[85]), read_uint(raw[86:102]))


def _decode_entry(consensus_address: bytes, entry_id: int, raw: bytes) -> UnbondingEntry:
    return UnbondingEntry(entry_id, consensus_address, read_uint(raw[:16]), read_uint(raw[16:24]), read_uint(raw[24:32]))


class StakingKeeper:
    def __init__(self, store: KVStore) -> None:
        self._store = PrefixStore(store, STORE_PREFIX)

    def params(self) -> StakingParams:
        return decode_params(StakingParams, self._store.get(PARAMS), InvalidStakingGenesis)

    def set_params(self, params: StakingParams) -> None:
        self._store.set(PARAMS, encode_params(params))

    # -- validators ---------------------------------------------------------------------------

    def validators(self) -> Iterator[StakingValidator]:
        """In consensus-address order (at most MAX_VALIDATORS)."""
        for key, raw in self._store.iterate(VALIDATOR, prefix_end(VALIDATOR)):
            yield _decode(key[len(VALIDATOR):], raw)

    def validator(self, consensus_address: bytes) -> StakingValidator | None:
        raw = self._store.get(validator_key(consensus_address))
        return _decode(consensus_address, raw) if raw is not None else None

    def validator_of_operator(self, operator: bytes) -> StakingValidator | None:
        consensus_address = self._store.get(OPERATOR + operator)
        return self.validator(consensus_address) if consensus_address is not None else None

    def set_validator(self, validator: StakingValidator) -> None:
        before = self.validator(validator.consensus_address)
        if before is not None and before.operator != validator.operator:
            self._store.delete(OPERATOR + before.operator)
        self._store.set(validator_key(validator.consensus_address), _encode(validator))
        self._store.set(OPERATOR + validator.operator, validator.consensus_address)

    # -- signing windows ----------------------------------------------------------------------

    def signing_window(self, consensus_address: bytes) -> SigningWindow | None:
        raw = self._store.get(SIGNING + consensus_address)
        return None if raw is None else SigningWindow(*_SIGNING_HEAD.unpack(raw))

    def set_signing_window(self, consensus_address: bytes, window: SigningWindow) -> None:
        self._store.set(SIGNING + consensus_address, _SIGNING_HEAD.pack(window.counted, window.missed, window.size))

    def slot_missed(self, consensus_address: bytes, slot: int) -> bool:
        chunk = self._store.get(missed_chunk_key(consensus_address, slot))
        bit = slot % MISSED_CHUNK_BITS
        return chunk is not None and bool(chunk[bit // 8] & (1 << (bit % 8)))

    def set_slot_missed(self, consensus_address: bytes, slot: int, missed: bool) -> None:
        """Set or clear one slot's missed bit: a write only where the bit changes, and a chunk
        left with no bit set is removed."""
        key = missed_chunk_key(consensus_address, slot)
        chunk = bytearray(self._store.get(key) or bytes(MISSED_CHUNK_BITS // 8))
        bit = slot % MISSED_CHUNK_BITS
        byte, mask = bit // 8, 1 << (bit % 8)
        if bool(chunk[byte] & mask) == missed:
            return
        chunk[byte] ^= mask
        if any(chunk):
            self._store.set(key, bytes(chunk))
        else:
            self._store.delete(key)

    def clear_signing_window(self, consensus_address: bytes) -> None:
        """The head and every stored chunk (at most the window's size / MISSED_CHUNK_BITS)."""
        self._store.delete(SIGNING + consensus_address)
        start = MISSED_BITS + consensus_address
        for key in [key for key, _ in self._store.iterate(start, prefix_end(start))]:
            self._store.delete(key)

    # -- bonds --------------------------------------------------------------------------------

    def pending_bond(self, eth_address: bytes) -> int:
        return stored_uint(self._store.get(PENDING_BOND + eth_address))

    def pending_bonds(self) -> Iterator[tuple[bytes, int]]:
        for key, raw in self._store.iterate(PENDING_BOND, prefix_end(PENDING_BOND)):
            yield key[len(PENDING_BOND):], read_uint(raw)

    def set_pending_bond(self, eth_address: bytes, amount_micro_usdc: int) -> None:
        if amount_micro_usdc:
            self._store.set(PENDING_BOND + eth_address, u128(amount_micro_usdc))
        else:
            self._store.delete(PENDING_BOND + eth_address)

    def credit_bond(self, eth_address: bytes, amount_micro_usdc: int) -> None:
        """A bond credited through the bridge to the holder of `eth_address`: held as pending until
        the end of the block joins it to the validator with that bridge key (or for as long as no
        validator has it)."""
        self.set_pending_bond(eth_address, self.pending_bond(eth_address) + amount_micro_usdc)
        self.add_bonded(amount_micro_usdc)

    def take_pending_bond(self, eth_address: bytes, amount_micro_usdc: int) -> int:
        """Take back up to `amount_micro_usdc` of the pending bond of `eth_address` (a credit a
        deposit halt's resume undid); what was taken."""
        taken = min(self.pending_bond(eth_address), amount_micro_usdc)
        if taken:
            self.set_pending_bond(eth_address, self.pending_bond(eth_address) - taken)
            self._store.set(BONDED_TOTAL, u128(self.bonded_total() - taken))
        return taken

    def take_joined_bond(self, consensus_address: bytes, amount_micro_usdc: int) -> int:
        """Take back up to `amount_micro_usdc` of a validator's bond, then of its unbonding entries
        (newest first): a credit a deposit halt's resume undid after it joined; what was taken. Its
        power follows at the end of a block."""
        validator = self.validator(consensus_address)
        if validator is None:
            return 0
        taken = min(validator.bond_micro_usdc, amount_micro_usdc)
        if taken:
            self.set_validator(replace(validator, bond_micro_usdc=validator.bond_micro_usdc - taken))
        for entry in reversed(self.unbonding_entries(consensus_address)):
            part = min(entry.amount_micro_usdc, amount_micro_usdc - taken)
            if part:
                self.set_unbonding(replace(entry, amount_micro_usdc=entry.amount_micro_usdc - part))
                taken += part
        if taken:
            self._store.set(BONDED_TOTAL, u128(self.bonded_total() - taken))
        return taken

    def bonded_total(self) -> int:
        """micro-USDC of every bond credited, at genesis or through the bridge."""
        return stored_uint(self._store.get(BONDED_TOTAL))

    def add_bonded(self, amount_micro_usdc: int) -> None:
        self._store.set(BONDED_TOTAL, u128(self.bonded_total() + amount_micro_usdc))

    def slashed_total(self) -> int:
        """micro-USDC of every slash, all of it moved to the insurance fund."""
        return stored_uint(self._store.get(SLASHED_TOTAL))

    def add_slashed(self, amount_micro_usdc: int) -> None:
        self._store.set(SLASHED_TOTAL, u128(self.slashed_total() + amount_micro_usdc))

    def withheld_total(self) -> int:
        """micro-USDC of forfeited bonds kept off the chain's ledger: the vault's reporter shares."""
        return stored_uint(self._store.get(WITHHELD_TOTAL))

    def add_withheld(self, amount_micro_usdc: int) -> None:
        self._store.set(WITHHELD_TOTAL, u128(self.withheld_total() + amount_micro_usdc))

    def unbonded_total(self) -> int:
        """micro-USDC of every unbonding entry released to its operator."""
        return stored_uint(self._store.get(UNBONDED_TOTAL))

    def add_unbonded(self, amount_micro_usdc: int) -> None:
        self._store.set(UNBONDED_TOTAL, u128(self.unbonded_total() + amount_micro_usdc))

    # -- unbonding ----------------------------------------------------------------------------

    def unbonding_entries(self, consensus_address: bytes) -> list[UnbondingEntry]:
        """The validator's entries in creation order (at most MAX_UNBONDING_ENTRIES)."""
        start = UNBONDING + consensus_address
        return [_decode_entry(consensus_address, read_uint(key[len(start):]), raw)
                for key, raw in self._store.iterate(start, prefix_end(start))]

    def all_unbonding_entries(self) -> Iterator[UnbondingEntry]:
        """Every entry, by validator then creation (at most MAX_VALIDATORS × MAX_UNBONDING_ENTRIES)."""
        for key, raw in self._store.iterate(UNBONDING, prefix_end(UNBONDING)):
            rest = key[len(UNBONDING):]
            yield _decode_entry(rest[:20], read_uint(rest[20:]), raw)

    def add_unbonding(self, consensus_address: bytes, amount_micro_usdc: int, created_height: int,
                      mature_height: int) -> UnbondingEntry:
        entry_id = stored_uint(self._store.get(NEXT_UNBONDING_ID), 1)
        self._store.set(NEXT_UNBONDING_ID, u64(entry_id + 1))
        entry = UnbondingEntry(entry_id, consensus_address, amount_micro_usdc, created_height, mature_height)
        self.set_unbonding(entry)
        self._store.set(unbonding_queue_key(mature_height, entry_id), consensus_address)
        return entry

    def set_unbonding(self, entry: UnbondingEntry) -> None:
        """Store the entry's amount; an entry of 0 (slashed away) leaves the store and the queue."""
        if entry.amount_micro_usdc == 0:
            self.remove_unbonding(entry)
            return
        self._store.set(unbonding_key(entry.consensus_address, entry.entry_id),
                        u128(entry.amount_micro_usdc) + u64(entry.created_height) + u64(entry.mature_height))

    def remove_unbonding(self, entry: UnbondingEntry) -> None:
        self._store.delete(unbonding_key(entry.consensus_address, entry.entry_id))
        self._store.delete(unbonding_queue_key(entry.mature_height, entry.entry_id))

    def due_unbondings(self, height: int, limit: int) -> list[UnbondingEntry]:
        """Up to `limit` entries mature at `height` or before, by maturity then creation."""
        due: list[UnbondingEntry] = []
        for key, consensus_address in self._store.iterate(UNBONDING_QUEUE, UNBONDING_QUEUE + u64(height + 1)):
            if len(due) == limit:
                break
            entry_id = read_uint(key[len(UNBONDING_QUEUE) + 8:])
            raw = self._store.get(unbonding_key(consensus_address, entry_id))
            assert raw is not None, f"unbonding queue entry {entry_id} has no entry"
            due.append(_decode_entry(consensus_address, entry_id, raw))
        return due

    # -- equivocation -------------------------------------------------------------------------

    def forfeited_at(self, consensus_address: bytes) -> int | None:
        """The height of the equivocation report that charged the validator, if one did."""
        raw = self._store.get(FORFEITED + consensus_address)
        return read_uint(raw) if raw is not None else None

    def set_forfeited(self, consensus_address: bytes, height: int) -> None:
        self._store.set(FORFEITED + consensus_address, u64(height))

    # -- bond debits: what anchors carry to the vault --------------------------------------------

    def bond_debits(self) -> list[tuple[bytes, int]]:
        """(eth address, micro-USDC ever taken from that key's bond), by increasing address: the
        cumulative list each anchor carries so the vault lowers `bondOf` (docs/anchoring.md)."""
        return [(key[len(BOND_DEBIT):], read_uint(raw))
                for key, raw in self._store.iterate(BOND_DEBIT, prefix_end(BOND_DEBIT))]

    def bond_debits_unlisted(self) -> int:
        """micro-USDC taken from bonds that no debit entry names: a validator without a bridge key,
        or a new key once MAX_BOND_DEBITS keys are listed. The vault keeps owing it as a bond."""
        return stored_uint(self._store.get(BOND_DEBITS_UNLISTED))

    def debit_bond(self, eth_address: bytes | None, amount_micro_usdc: int) -> None:
        """Count `amount_micro_usdc` leaving the bond held in the vault under `eth_address` (the
        validator's bridge key now). A key joins the list only while it has room, so an anchor never
        names more keys than the vault takes; beyond that the amount is unlisted."""
        key = BOND_DEBIT + eth_address if eth_address is not None else None
        if key is not None and (self._store.get(key) is not None or len(self.bond_debits()) < MAX_BOND_DEBITS):
            self._store.set(key, u128(stored_uint(self._store.get(key)) + amount_micro_usdc))
        else:
            self._store.set(BOND_DEBITS_UNLISTED, u128(self.bond_debits_unlisted() + amount_micro_usdc))

    # -- CometBFT's set, two blocks behind ------------------------------------------------------

    def schedule_consensus_update(self, height: int, consensus_address: bytes, power: int) -> None:
        """CometBFT applies a validator update sent at height H from height H + 2 on."""
        self._store.set(consensus_update_key(height, consensus_address), u64(power))

    def take_consensus_updates(self, height: int) -> list[tuple[bytes, int]]:
        """(consensus address, power) that take effect at `height`, in address order; removed."""
        start = CONSENSUS_UPDATE + u64(height)
        found = [(key[len(start):], read_uint(raw)) for key, raw in self._store.iterate(start, prefix_end(start))]
        for address, _ in found:
            self._store.delete(consensus_update_key(height, address))
        return found
