"""The error base every module registers its errors with: one stable ABCI code per error.

Codes are unique across the whole chain, so a client can act on the code alone; the codespace
names the module that owns it. `all_errors()` feeds the documentation table and its test.
"""

from __future__ import annotations

from typing import ClassVar

_REGISTRY: dict[int, type["ChainError"]] = {}


class ChainError(Exception):
    """A rejection the chain reports to the user: code, codespace and a message to act on."""

    code: ClassVar[int] = 1
    codespace: ClassVar[str] = "perpchain"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # an intermediate base class, not a registered error
        taken = _REGISTRY.get(cls.code)
        if taken is not None and taken.__qualname__ != cls.__qualname__:
            raise RuntimeError(f"ABCI code {cls.code} used by both {taken.__name__} and {cls.__name__}")
        _REGISTRY[cls.code] = cls

    @property
    def log(self) -> str:
        return f"{type(self).__name__}: {self.message}"


def all_errors() -> list[type[ChainError]]:
    """Every registered error, in code order."""
    return [_REGISTRY[code] for code in sorted(_REGISTRY)]
