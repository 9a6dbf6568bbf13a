"""Deterministic business logic: pure functions of (state, block context, action).

Nothing here imports anything outside the standard library, sortedcontainers and modules/.
"""
