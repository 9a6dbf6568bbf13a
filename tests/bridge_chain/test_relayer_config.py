"""The relayer's config file and encrypted keystore (no network)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import PASSWORD_ENV, ConfigError, RelayerConfig, load_keystore, save_keystore
from client.keys import PASSWORD_ENV as KEY_PASSWORD_ENV
from client.keys import save_encrypted_key, save_key
from wire.crypto import PrivateKey

ROOT = Path(__file__).resolve().parents[2]


def test_keystore_round_trips_and_refuses_a_wrong_password(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    save_keystore(key, tmp_path / "k.json", "secret", scrypt_n=2**10)
    assert load_keystore(tmp_path / "k.json", "secret") == key
    with pytest.raises(ConfigError, match="cannot decrypt"):
        load_keystore(tmp_path / "k.json", "wrong")


def test_config_resolves_paths_and_takes_the_password_from_a_file_or_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = PrivateKey.generate()
    save_keystore(key, tmp_path / "eth.json", "pw", scrypt_n=2**10)
    base = {"node_rpc": "http://n", "eth_rpc": "http://e", "vault": "0x" + "11" * 20, "state_dir": "state",
            "perpchain_key": "op.json", "eth_keystore": "eth.json"}
    (tmp_path / "r.json").write_text(json.dumps(base))
    config = RelayerConfig.load(tmp_path / "r.json")
    assert config.state_dir == tmp_path / "state" and config.confirmations == 3
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ConfigError, match="no keystore password"):
        config.eth_key()
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    assert config.eth_key() == key
    (tmp_path / "pw").write_text("pw\n")
    (tmp_path / "r.json").write_text(json.dumps({**base, "eth_password_file": "pw"}))
    monkeypatch.delenv(PASSWORD_ENV)
    assert RelayerConfig.load(tmp_path / "r.json").eth_key() == key
    (tmp_path / "r.json").write_text(json.dumps({**base, "password": "pw"}))
    with pytest.raises(ConfigError, match="unknown field 'password'"):
        RelayerConfig.load(tmp_path / "r.json")


def _config_with_operator(tmp_path: Path, operator_file: str, **extra: str) -> Path:
    save_keystore(PrivateKey.generate(), tmp_path / "eth.json", "pw", scrypt_n=2**10)
    (tmp_path / "eth.pw").write_text("pw\n")
    (tmp_path / "r.json").write_text(json.dumps({
        "node_rpc": "http://127.0.0.1:1", "eth_rpc": "http://127.0.0.1:1", "vault": "0x" + "11" * 20,
        "state_dir": "state", "perpchain_key": operator_file, "eth_keystore": "eth.json",
        "eth_password_file": "eth.pw", **extra}))
    return tmp_path / "r.json"


def test_the_operator_key_is_an_encrypted_keystore_with_its_password_from_a_file_or_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    operator = PrivateKey.generate()
    save_encrypted_key(operator, tmp_path / "op.keystore.json", "op-pw", scrypt_n=2**10)
    (tmp_path / "op.pw").write_text("op-pw\n")
    monkeypatch.delenv(KEY_PASSWORD_ENV, raising=False)
    config = RelayerConfig.load(_config_with_operator(tmp_path, "op.keystore.json", perpchain_password_file="op.pw"))
    assert config.perpchain_password_file == tmp_path / "op.pw"
    assert config.operator_key() == operator
    config = RelayerConfig.load(_config_with_operator(tmp_path, "op.keystore.json"))
    with pytest.raises(ConfigError, match=r"perpchain_key: no password: .*\$PERPCHAIN_KEY_PASSWORD"):
        config.operator_key()
    monkeypatch.setenv(KEY_PASSWORD_ENV, "op-pw")
    assert config.operator_key() == operator
    monkeypatch.setenv(KEY_PASSWORD_ENV, "not it")
    with pytest.raises(ConfigError, match="perpchain_key: .*cannot decrypt: wrong password"):
        config.operator_key()


def test_a_plaintext_operator_key_is_refused(tmp_path: Path) -> None:
    save_key(PrivateKey.generate(), tmp_path / "operator.json")
    config = RelayerConfig.load(_config_with_operator(tmp_path, "operator.json"))
    with pytest.raises(ConfigError, match="a plaintext key, but a validator operator key must be encrypted at rest"):
        config.operator_key()


def test_a_relayer_with_a_wrong_operator_password_stops_with_one_error_line_and_no_traceback(tmp_path: Path) -> None:
    save_encrypted_key(PrivateKey.generate(), tmp_path / "op.keystore.json", "op-pw", scrypt_n=2**10)
    (tmp_path / "op.pw").write_text("wrong\n")
    path = _config_with_operator(tmp_path, "op.keystore.json", perpchain_password_file="op.pw")
    done = subprocess.run([sys.executable, "-m", "bridge.relayer", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot start: perpchain_key: " in done.stderr and "cannot decrypt: wrong password" in done.stderr
