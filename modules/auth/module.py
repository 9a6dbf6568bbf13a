"""auth's declaration (modules/module.py): its query. Its rule, a tx's nonce, runs before any
action (app/router.py use_nonce)."""

from __future__ import annotations

from modules.auth import queries
from modules.module import Module, Query

MODULE = Module("auth", queries={("auth", "nonces"): Query(1, queries.nonces)})
