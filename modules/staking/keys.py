"""staking's keys under prefix `staking/`. Integers are fixed-width big-endian, so key order is
numeric order."""

from __future__ import annotations

from modules.encoding import u32, u64

STORE_PREFIX = b"staking/"
PARAMS = b"params"  # the genesis params, canonical JSON (modules/params.py)
VALIDATOR = b"v/"  # v/<consensus address 20> -> pub_key 32, operator 20, bond u128, power u64, jailed u8,
#                    jailed_until u64, tombstoned u8, slashed u128
OPERATOR = b"o/"  # o/<operator 20> -> consensus address 20
SIGNING = b"s/"  # s/<consensus address 20> -> counted u64, missed u32, window size u32
MISSED_BITS = b"sm/"  # sm/<consensus address 20><chunk u32> -> MISSED_CHUNK_BITS slots' bits (set: missed);
#                       a chunk with no bit set is not stored
MISSED_CHUNK_BITS = 1024
PENDING_BOND = b"pb/"  # pb/<eth address 20> -> u128: a bond credited to a key no validator holds (yet)
CONSENSUS_UPDATE = b"u/"  # u/<height u64><consensus address 20> -> power u64: CometBFT's set from that height
BONDED_TOTAL = b"bonded_total"  # u128: every bond ever credited (genesis and bridge), for the invariant
SLASHED_TOTAL = b"slashed_total"  # u128: every slash ever moved to the insurance fund
UNBONDED_TOTAL = b"unbonded_total"  # u128: every unbonding released to an operator
WITHHELD_TOTAL = b"withheld_total"  # u128: reporters' shares of forfeited bonds, paid by the vault, not the chain
UNBONDING = b"ub/"  # ub/<consensus address 20><entry id u64> -> amount u128, created u64, mature u64
UNBONDING_QUEUE = b"uq/"  # uq/<mature height u64><entry id u64> -> consensus address 20: release order
NEXT_UNBONDING_ID = b"next_unbonding"  # u64: the next entry id (the first is 1)
FORFEITED = b"f/"  # f/<consensus address 20> -> height u64 of the equivocation report that charged it
BOND_DEBIT = b"bd/"  # bd/<eth address 20> -> u128: bond money ever taken from the vault bond of that key
BOND_DEBITS_UNLISTED = b"bond_debits_unlisted"  # u128: bond money taken that no debit entry names


def validator_key(consensus_address: bytes) -> bytes:
    return VALIDATOR + consensus_address


def consensus_update_key(height: int, consensus_address: bytes) -> bytes:
    return CONSENSUS_UPDATE + u64(height) + consensus_address


def missed_chunk_key(consensus_address: bytes, slot: int) -> bytes:
    """The key of the chunk holding window slot `slot`'s missed bit."""
    return MISSED_BITS + consensus_address + u32(slot // MISSED_CHUNK_BITS)


def unbonding_key(consensus_address: bytes, entry_id: int) -> bytes:
    return UNBONDING + consensus_address + u64(entry_id)


def unbonding_queue_key(mature_height: int, entry_id: int) -> bytes:
    return UNBONDING_QUEUE + u64(mature_height) + u64(entry_id)
