"""Key files (client/keys.py) and `perpchain keys`: plaintext and encrypted keys, the password from a
file or the environment, an operator key refused in plaintext, and every bad file or password a
one-line error naming the file, never a traceback."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from client.keys import (
    PASSWORD_ENV,
    KeyFileError,
    is_encrypted,
    key_address,
    load_key,
    load_operator_key,
    save_encrypted_key,
    save_key,
)
from perpchain.cli import main
from wire.crypto import PrivateKey, address_to_hex

KEY = PrivateKey(b"\x42" * 32)
FAST = 2**10  # scrypt work factor for tests only


@pytest.fixture(autouse=True)
def no_password_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


def _password(tmp_path: Path, text: str = "correct horse") -> Path:
    (tmp_path / "pw").write_text(text + "\n")
    return tmp_path / "pw"


def test_an_encrypted_key_is_a_web3_secret_storage_file_readable_only_by_its_owner(tmp_path: Path) -> None:
    save_encrypted_key(KEY, tmp_path / "k.json", "correct horse", scrypt_n=FAST)
    document = json.loads((tmp_path / "k.json").read_text())
    assert document["version"] == 3 and document["crypto"]["kdf"] == "scrypt"
    assert KEY.secret.hex() not in (tmp_path / "k.json").read_text()
    assert stat.S_IMODE((tmp_path / "k.json").stat().st_mode) == 0o600
    assert is_encrypted(tmp_path / "k.json") and key_address(tmp_path / "k.json") == KEY.address
    assert load_key(tmp_path / "k.json", _password(tmp_path)) == KEY
    assert load_operator_key(tmp_path / "k.json", _password(tmp_path)) == KEY


def test_the_password_comes_from_a_file_else_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_encrypted_key(KEY, tmp_path / "k.json", "correct horse", scrypt_n=FAST)
    with pytest.raises(KeyFileError, match=r"no password: pass --password-file FILE or set \$PERPCHAIN_KEY_PASSWORD"):
        load_key(tmp_path / "k.json")
    monkeypatch.setenv(PASSWORD_ENV, "correct horse")
    assert load_key(tmp_path / "k.json") == KEY
    with pytest.raises(KeyFileError, match="wrong password"):  # the file wins over the environment
        load_key(tmp_path / "k.json", _password(tmp_path, "another"))


def test_a_plaintext_key_loads_as_a_trader_key_but_is_refused_as_an_operator_key(tmp_path: Path) -> None:
    save_key(KEY, tmp_path / "trader.json")
    assert not is_encrypted(tmp_path / "trader.json")
    assert load_key(tmp_path / "trader.json") == KEY
    with pytest.raises(KeyFileError, match="validator operator key must be encrypted at rest"):
        load_operator_key(tmp_path / "trader.json", _password(tmp_path))


def _corrupt(tmp_path: Path) -> dict[str, str]:
    save_encrypted_key(KEY, tmp_path / "good.json", "correct horse", scrypt_n=FAST)
    good = json.loads((tmp_path / "good.json").read_text())
    no_kdf = json.loads(json.dumps(good))
    del no_kdf["crypto"]["kdfparams"]
    bad_hex = json.loads(json.dumps(good))
    bad_hex["crypto"]["ciphertext"] = "zz"
    other_address = {**good, "address": "11" * 20}
    bad_n = json.loads(json.dumps(good))
    bad_n["crypto"]["kdfparams"]["n"] = 3
    return {"not JSON": "{", "a JSON list": "[1]", "no key in it": '{"address": "0x00"}',
            "no kdf parameters": json.dumps(no_kdf), "a ciphertext not in hex": json.dumps(bad_hex),
            "an address not its key's": json.dumps(other_address), "a work factor not a power of 2": json.dumps(bad_n),
            "a plaintext key not in hex": '{"private_key": "xyz"}'}


@pytest.mark.parametrize("what", ["not JSON", "a JSON list", "no key in it", "no kdf parameters",
                                  "a ciphertext not in hex", "an address not its key's",
                                  "a work factor not a power of 2", "a plaintext key not in hex"])
def test_a_corrupt_key_file_is_a_key_file_error_naming_the_file(tmp_path: Path, what: str) -> None:
    (tmp_path / "bad.json").write_text(_corrupt(tmp_path)[what])
    with pytest.raises(KeyFileError, match=str(tmp_path / "bad.json")):
        load_key(tmp_path / "bad.json", _password(tmp_path))


def test_a_missing_key_or_password_file_is_a_key_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read the key file"):
        load_key(tmp_path / "absent.json")
    save_encrypted_key(KEY, tmp_path / "k.json", "correct horse", scrypt_n=FAST)
    with pytest.raises(KeyFileError, match="cannot read the password file"):
        load_key(tmp_path / "k.json", tmp_path / "absent.pw")


def test_an_empty_password_is_refused_when_encrypting(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="empty password"):
        save_encrypted_key(KEY, tmp_path / "k.json", "", scrypt_n=FAST)
    assert not (tmp_path / "k.json").exists()


def test_keys_new_encrypt_show_encrypt_in_place_and_change_password_on_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import client.keys

    monkeypatch.setattr(client.keys, "SCRYPT_N", FAST)  # the default work factor, lowered for speed
    password = _password(tmp_path)
    assert main(["keys", "new", str(tmp_path / "op.json"), "--encrypt", "--password-file", str(password)]) == 0
    address = capsys.readouterr().out.strip()
    assert is_encrypted(tmp_path / "op.json")
    assert address_to_hex(load_operator_key(tmp_path / "op.json", password).address) == address
    assert main(["keys", "show", str(tmp_path / "op.json")]) == 0  # no password needed for the address
    assert capsys.readouterr().out.strip() == address

    save_key(KEY, tmp_path / "old.json")
    monkeypatch.setenv(PASSWORD_ENV, "from the environment")
    assert main(["keys", "encrypt", str(tmp_path / "old.json")]) == 0
    assert capsys.readouterr().out.strip() == address_to_hex(KEY.address)
    assert load_operator_key(tmp_path / "old.json") == KEY  # same key, now encrypted in place
    assert main(["keys", "encrypt", str(tmp_path / "old.json")]) == 1
    assert "already encrypted" in capsys.readouterr().err

    (tmp_path / "new.pw").write_text("a new password\n")
    monkeypatch.setattr(client.keys, "SCRYPT_N", 2 * FAST)  # a default other than the file's own work factor
    assert main(["keys", "change-password", str(tmp_path / "old.json"), "--new-password-file",
                 str(tmp_path / "new.pw")]) == 0  # the old password from the environment
    assert capsys.readouterr().out.strip() == address_to_hex(KEY.address)
    assert load_operator_key(tmp_path / "old.json", tmp_path / "new.pw") == KEY
    with pytest.raises(KeyFileError, match="wrong password"):
        load_operator_key(tmp_path / "old.json")  # the old password no longer opens it
    assert json.loads((tmp_path / "old.json").read_text())["crypto"]["kdfparams"]["n"] == FAST  # work factor kept


def test_a_wrong_password_on_the_command_line_is_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_encrypted_key(KEY, tmp_path / "op.json", "correct horse", scrypt_n=FAST)
    code = main(["tx", "transfer", "--key", str(tmp_path / "op.json"), "--password-file",
                 str(_password(tmp_path, "wrong")), "--to", "0x" + "11" * 20, "--amount", "1",
                 "--node", "http://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err == f"error: {tmp_path / 'op.json'}: cannot decrypt: wrong password (or the file was altered)\n"


def test_bridge_key_refuses_a_plaintext_operator_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_key(KEY, tmp_path / "op.json")
    code = main(["tx", "bridge-key", "--key", str(tmp_path / "op.json"), "--current-eth-keystore", "a.json",
                 "--eth-keystore", "b.json", "--node", "http://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 1 and "validator operator key must be encrypted at rest" in err and "Traceback" not in err
