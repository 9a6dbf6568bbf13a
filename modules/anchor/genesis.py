"""anchor's genesis section: validate, import, export (round-trip tested).

    {"interval_blocks": 10}

Absent or empty: no anchoring. Anchoring needs the bridge section (the vault and the validators'
bridge keys); modules/genesis.py checks that both are present.
"""

from __future__ import annotations

from typing import Any

from modules.anchor.errors import InvalidAnchorGenesis
from modules.anchor.keeper import AnchorKeeper
from modules.anchor.types import AnchorParams

MAX_INTERVAL_BLOCKS = 10**9


def validate_genesis(section: Any) -> AnchorParams | None:
    if section in (None, {}):
        return None
    if not isinstance(section, dict):
        raise InvalidAnchorGenesis("anchor must be an object")
    unknown = sorted(set(section) - {"interval_blocks"})
    if unknown:
        raise InvalidAnchorGenesis(f"anchor has unknown field {unknown[0]!r}")
    interval = section.get("interval_blocks")
    if not (isinstance(interval, int) and not isinstance(interval, bool) and 1 <= interval <= MAX_INTERVAL_BLOCKS):
        raise InvalidAnchorGenesis(f"anchor.interval_blocks must be an integer from 1 to {MAX_INTERVAL_BLOCKS}")
    return AnchorParams(interval)


def import_genesis(keeper: AnchorKeeper, section: Any) -> None:
    params = validate_genesis(section)
    if params is not None:
        keeper.set_params(params)


def export_genesis(keeper: AnchorKeeper) -> dict[str, Any]:
    params = keeper.params()
    return {"interval_blocks": params.interval_blocks} if params is not None else {}
