"""Key files: a secp256k1 private key as JSON, readable only by its owner."""

from __future__ import annotations

import json
import os
from pathlib import Path

from wire.crypto import PrivateKey, address_to_hex


def save_key(key: PrivateKey, path: Path, overwrite: bool = False) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; refusing to overwrite a key")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"address": address_to_hex(key.address), "private_key": key.secret.hex()}, indent=2)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(data + "\n")


def load_key(path: Path) -> PrivateKey:
    try:
        data = json.loads(Path(path).read_text())
        return PrivateKey.from_hex(data["private_key"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a perpchain key file ({exc})") from None
