"""Every error the client raises derives from ClientError."""

from __future__ import annotations


class ClientError(Exception):
    """Base of everything client/ raises."""


class NodeUnreachable(ClientError):
    """The node's RPC did not answer (connection refused, timeout)."""


class RpcError(ClientError):
    """The node answered with a JSON-RPC error."""


class ChainRejected(ClientError):
    """The chain refused something; `code` and `codespace` are its documented ABCI code."""

    def __init__(self, code: int, codespace: str, log: str) -> None:
        super().__init__(f"code {code} ({codespace}): {log}")
        self.code = code
        self.codespace = codespace
        self.log = log


class TxRejected(ChainRejected):
    """A tx failed CheckTx (`stage == "check"`) or failed inside its block (`stage == "block"`)."""

    def __init__(self, code: int, codespace: str, log: str, stage: str, tx_hash: str) -> None:
        super().__init__(code, codespace, log)
        self.stage = stage
        self.tx_hash = tx_hash


class QueryFailed(ChainRejected):
    """An abci_query answered with a non-zero code."""


class TxNotIncluded(ClientError):
    """A tx passed CheckTx but was not seen in a block before the deadline."""
