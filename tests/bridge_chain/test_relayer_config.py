"""The relayer's config file and encrypted keystore (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.config import PASSWORD_ENV, ConfigError, RelayerConfig, load_keystore, save_keystore
from wire.crypto import PrivateKey


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
