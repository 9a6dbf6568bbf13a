"""auth's abci_query answer (docs/queries.md): /auth/nonces/<address> -> {"address", "recent_nonces"}."""

from __future__ import annotations

from typing import Any

from modules.auth.keeper import AuthKeeper
from modules.queries import QueryContext, address


def nonces(q: QueryContext, args: list[str]) -> dict[str, Any]:
    recent = AuthKeeper(q.store).recent_nonces(address(args[0]))
    return {"address": args[0].lower(), "recent_nonces": [str(n) for n in recent]}
