"""A relayer's configuration file (JSON) and its two keys, both from encrypted keystores.

    {
      "node_rpc": "http://127.0.0.1:26657",       perpchain node (CometBFT RPC)
      "eth_rpc": "http://127.0.0.1:8545",          Ethereum JSON-RPC
      "vault": "0x...",                            must equal the chain's /bridge/status vault
      "confirmations": 3,                          blocks a deposit must be buried under
      "state_dir": "relayer0",                     cursor and pending deposits (relative: to the file)
      "perpchain_key": "operator0.keystore.json",  the validator operator's key, encrypted (client/keys.py)
      "perpchain_password_file": "operator0.password",   optional; else $PERPCHAIN_KEY_PASSWORD
      "eth_keystore": "eth0.keystore.json",        Web3 Secret Storage (eth-account's Account.encrypt)
      "eth_password_file": "eth0.password",        optional; else $PERPCHAIN_RELAYER_PASSWORD
      "listen": "127.0.0.1:9400",                  /health and /metrics (port 0: any free port)
      "poll_interval_ms": 200, "backup_delay_ms": 3000, "start_block": 0
    }

Both keys are Web3 Secret Storage (scrypt) files; a plaintext operator key is refused. A password
never comes from the command line: a file (mode 600 advised) or the environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.keys import KeyFileError, load_encrypted_key, load_operator_key, save_encrypted_key
from wire.crypto import PrivateKey

PASSWORD_ENV = "PERPCHAIN_RELAYER_PASSWORD"
REQUIRED = ("node_rpc", "eth_rpc", "vault", "state_dir", "perpchain_key", "eth_keystore")
OPTIONAL = ("confirmations", "eth_password_file", "listen", "poll_interval_ms", "backup_delay_ms", "start_block",
            "perpchain_password_file")


class ConfigError(ValueError):
    """The relayer's configuration is wrong; the message names the field."""


@dataclass(frozen=True)
class RelayerConfig:
    node_rpc: str
    eth_rpc: str
    vault: str
    state_dir: Path
    perpchain_key: Path
    eth_keystore: Path
    eth_password_file: Path | None = None
    confirmations: int = 3
    listen: str = "127.0.0.1:0"
    poll_interval_ms: int = 200
    backup_delay_ms: int = 3000
    start_block: int = 0
    perpchain_password_file: Path | None = None

    @classmethod
    def load(cls, path: Path) -> "RelayerConfig":
        try:
            raw: Any = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: must be a JSON object")
        unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise ConfigError(f"{path}: unknown field {unknown[0]!r}")
        missing = [name for name in REQUIRED if name not in raw]
        if missing:
            raise ConfigError(f"{path}: {missing[0]} is missing")
        base = path.resolve().parent

        def file(name: str) -> Path:
            value = Path(raw[name])
            return value if value.is_absolute() else base / value

        for name in ("confirmations", "poll_interval_ms", "backup_delay_ms", "start_block"):
            if name in raw and not (isinstance(raw[name], int) and not isinstance(raw[name], bool) and raw[name] >= 0):
                raise ConfigError(f"{path}: {name} must be a non-negative integer")
        return cls(raw["node_rpc"], raw["eth_rpc"], raw["vault"], file("state_dir"), file("perpchain_key"),
                   file("eth_keystore"), file("eth_password_file") if raw.get("eth_password_file") else None,
                   raw.get("confirmations", 3), raw.get("listen", "127.0.0.1:0"), raw.get("poll_interval_ms", 200),
                   raw.get("backup_delay_ms", 3000), raw.get("start_block", 0),
                   file("perpchain_password_file") if raw.get("perpchain_password_file") else None)

    def password(self) -> str:
        """The Ethereum keystore's password: `eth_password_file`, else $PERPCHAIN_RELAYER_PASSWORD."""
        if self.eth_password_file is not None:
            try:
                return self.eth_password_file.read_text().rstrip("\n")
            except OSError as exc:
                raise ConfigError(f"eth_password_file: {self.eth_password_file}: {exc.strerror or exc}") from None
        if PASSWORD_ENV in os.environ:
            return os.environ[PASSWORD_ENV]
        raise ConfigError(f"no keystore password: set eth_password_file or ${PASSWORD_ENV}")

    def eth_key(self) -> PrivateKey:
        return load_keystore(self.eth_keystore, self.password())

    def operator_key(self) -> PrivateKey:
        """The validator operator's perpchain key: encrypted only; its password from
        `perpchain_password_file`, else $PERPCHAIN_KEY_PASSWORD."""
        try:
            return load_operator_key(self.perpchain_key, self.perpchain_password_file)
        except KeyFileError as exc:
            raise ConfigError(f"perpchain_key: {exc}") from None


def save_keystore(key: PrivateKey, path: Path, password: str, scrypt_n: int = 2**18) -> None:
    """Web3 Secret Storage v3 (scrypt), mode 600, replacing `path`. Localnets pass a smaller
    `scrypt_n` to start fast."""
    save_encrypted_key(key, path, password, overwrite=True, scrypt_n=scrypt_n)


def load_keystore(path: Path, password: str) -> PrivateKey:
    try:
        return load_encrypted_key(path, password)
    except KeyFileError as exc:
        raise ConfigError(str(exc)) from None
