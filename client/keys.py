"""Key files: one secp256k1 private key per file, readable only by its owner, in one of two formats.

    plaintext  {"address": "0x…", "private_key": "<64 hex digits>"}
               a trader's key (`perpchain keys new FILE`)
    encrypted  Web3 Secret Storage v3: scrypt + AES-128-CTR + keccak MAC, as written by eth-account's
               Account.encrypt (and geth, MetaMask exports, …). Every validator operator key, and
               any trader key made with `perpchain keys new FILE --encrypt`

`load_key` reads either; `load_operator_key` refuses a plaintext file (a validator's operator key
must be encrypted at rest). An encrypted file's password comes from a password file or from
$PERPCHAIN_KEY_PASSWORD, never from the command line (it would show in `ps` and shell history);
trailing newlines of a password file are ignored. Every failure (missing or corrupt file, wrong
password, no password) is a KeyFileError, a ValueError whose message names the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wire.crypto import PrivateKey, address_to_hex

PASSWORD_ENV = "PERPCHAIN_KEY_PASSWORD"
NEW_PASSWORD_ENV = "PERPCHAIN_NEW_KEY_PASSWORD"  # `perpchain keys change-password` only
SCRYPT_N = 2**18  # eth-account's and geth's default work factor; localnets and tests pass less


class KeyFileError(ValueError):
    """A key file cannot be read, decrypted or written; the message names the file and the cause."""


def _write_private(path: Path, text: str, overwrite: bool) -> None:
    """Write `text` to `path` with mode 600 through a temporary file, so a replaced key is never
    half-written and never readable by others, even for a moment."""
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; refusing to overwrite a key")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    temporary.replace(path)


def save_key(key: PrivateKey, path: Path, overwrite: bool = False) -> None:
    """A plaintext key file (traders)."""
    data = json.dumps({"address": address_to_hex(key.address), "private_key": key.secret.hex()}, indent=2)
    _write_private(Path(path), data + "\n", overwrite)


def save_encrypted_key(key: PrivateKey, path: Path, password: str, overwrite: bool = False,
                       scrypt_n: int | None = None) -> None:
    """An encrypted key file (Web3 Secret Storage v3, scrypt). `scrypt_n`: the work factor, a power
    of two, default SCRYPT_N (2^18 takes about a second and 256 MiB to decrypt; localnets use 2^14)."""
    from eth_account import Account

    if not password:
        raise KeyFileError(f"{path}: refusing to encrypt a key with an empty password")
    document = Account.encrypt(key.secret, password, kdf="scrypt", iterations=scrypt_n or SCRYPT_N)
    _write_private(Path(path), json.dumps(document) + "\n", overwrite)


def _document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a key file (not JSON: {exc})") from None
    if not isinstance(document, dict) or not ("private_key" in document or "crypto" in document):
        raise KeyFileError(f"{path}: not a key file (neither a plaintext key nor a Web3 Secret Storage keystore)")
    return document


def is_encrypted(path: Path) -> bool:
    """True for a Web3 Secret Storage file, False for a plaintext one; KeyFileError otherwise."""
    return "crypto" in _document(path)


def key_address(path: Path) -> bytes:
    """The file's address without its password (a keystore stores it in clear beside the secret)."""
    document = _document(path)
    if "crypto" in document:
        from wire.crypto import address_from_hex

        try:
            return address_from_hex(str(document["address"]))
        except (KeyError, ValueError):
            raise KeyFileError(f"{path}: the keystore has no valid address field; `keys show` needs it") from None
    return _plaintext(path, document).address


def read_password(password_file: Path | None, env: str = PASSWORD_ENV, option: str = "--password-file") -> str:
    """The password from `password_file` if given, else from the environment variable `env`."""
    if password_file is not None:
        try:
            return Path(password_file).read_text().rstrip("\n")
        except OSError as exc:
            raise KeyFileError(f"{password_file}: cannot read the password file ({exc.strerror or exc})") from None
    if env in os.environ:
        return os.environ[env]
    raise KeyFileError(f"no password: pass {option} FILE or set ${env} (never on the command line)")


def _plaintext(path: Path, document: dict[str, Any]) -> PrivateKey:
    try:
        return PrivateKey.from_hex(str(document["private_key"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a perpchain key file ({exc})") from None


def _decrypt(path: Path, document: dict[str, Any], password: str) -> PrivateKey:
    from eth_account import Account

    try:
        key = PrivateKey(bytes(Account.decrypt(document, password)))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise KeyFileError(f"{path}: cannot decrypt: wrong password (or the file was altered)") from None
        raise KeyFileError(f"{path}: cannot decrypt: corrupt keystore ({exc})") from None
    except (KeyError, TypeError, AttributeError, IndexError, OverflowError) as exc:
        raise KeyFileError(f"{path}: cannot decrypt: corrupt keystore ({type(exc).__name__}: {exc})") from None
    stated = str(document.get("address", "")).lower().removeprefix("0x")
    if stated and stated != key.address.hex():
        raise KeyFileError(f"{path}: the keystore names address 0x{stated} but holds the key of "
                           f"{address_to_hex(key.address)}: the file was altered")
    return key


def load_encrypted_key(path: Path, password: str) -> PrivateKey:
    """An encrypted key file only (a plaintext file is refused)."""
    document = _document(path)
    if "crypto" not in document:
        raise KeyFileError(f"{path}: a plaintext key file, not an encrypted keystore")
    return _decrypt(path, document, password)


def load_key(path: Path, password_file: Path | None = None) -> PrivateKey:
    """A key file of either format; an encrypted one is decrypted with the password from
    `password_file`, else from $PERPCHAIN_KEY_PASSWORD."""
    document = _document(path)
    if "crypto" in document:
        return _decrypt(path, document, read_password(password_file))
    return _plaintext(path, document)


def load_operator_key(path: Path, password_file: Path | None = None) -> PrivateKey:
    """A validator operator's key: encrypted only. A plaintext file is refused, naming the command
    that encrypts it in place."""
    if "crypto" not in _document(path):
        raise KeyFileError(f"{path}: a plaintext key, but a validator operator key must be encrypted at rest: "
                           f"`perpchain keys encrypt {path} --password-file FILE` encrypts it in place")
    return load_encrypted_key(path, read_password(password_file))


def change_password(path: Path, old_password: str, new_password: str) -> PrivateKey:
    """Re-encrypt a keystore under `new_password` in place (same key, same scrypt work factor)."""
    document = _document(path)
    if "crypto" not in document:
        raise KeyFileError(f"{path}: a plaintext key file has no password (`perpchain keys encrypt` encrypts it)")
    key = _decrypt(path, document, old_password)
    params = document["crypto"].get("kdfparams", {})
    scrypt_n = params.get("n") if document["crypto"].get("kdf") == "scrypt" else None
    save_encrypted_key(key, path, new_password, overwrite=True, scrypt_n=scrypt_n)
    return key


def encrypt_in_place(path: Path, password: str, scrypt_n: int | None = None) -> PrivateKey:
    """Replace a plaintext key file by its encrypted keystore (same key, same address)."""
    document = _document(path)
    if "crypto" in document:
        raise KeyFileError(f"{path}: already encrypted")
    key = _plaintext(path, document)
    save_encrypted_key(key, path, password, overwrite=True, scrypt_n=scrypt_n)
    return key
