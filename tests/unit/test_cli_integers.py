"""Every integer the CLI reads goes through the one parser (modules/integers.py): a bad one is a
usage error naming the argument (exit status 2), never a traceback; nothing is sent."""

from __future__ import annotations

import argparse

import pytest

from client.arguments import subaccount_ref, uint_arg
from perpchain.cli import build_parser, main

ADDRESS = "0x" + "ab" * 20
BAD = ["01", "²", "①", "１", "-1", "+1", "1e3", " 1", "1_0", str(2**64), "9" * 5_000, ""]


def _integer_options(parser: argparse.ArgumentParser,
                     path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str, bool]]:
    """(subcommand path, option, whether it is `0xADDR[/N]`) for every option read by an integer
    parser, in every subcommand."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _integer_options(sub, (*path, name))
        elif action.option_strings and getattr(action.type, "__module__", "") == "client.arguments":
            found.append((path, action.option_strings[-1], action.type is subaccount_ref))
    return found


PARSER = build_parser()
OPTIONS = _integer_options(PARSER)


def test_no_option_of_any_subcommand_reads_integers_with_int() -> None:
    def plain_int(parser: argparse.ArgumentParser) -> list[str]:
        bad = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    bad += plain_int(sub)
            elif action.type is int:
                bad.append(action.dest)
        return bad

    assert plain_int(PARSER) == []
    assert len(OPTIONS) > 40


@pytest.mark.parametrize(("path", "option", "in_address"), OPTIONS, ids=[f"{' '.join(p)} {o}" for p, o, _ in OPTIONS])
def test_a_bad_integer_option_exits_2_with_the_rule(path: tuple[str, ...], option: str, in_address: bool,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("01", "１", str(2**64), "9" * 5_000):
        with pytest.raises(SystemExit) as exited:
            PARSER.parse_args([*path, f"{option}={ADDRESS}/{bad}" if in_address else f"{option}={bad}"])
        assert exited.value.code == 2
        error = capsys.readouterr().err
        assert f"{option}: " in error and "Traceback" not in error
        assert "ASCII digits" in error or "is over" in error or "must be from" in error, error


@pytest.mark.parametrize("bad", BAD)
def test_a_subaccount_in_an_address_is_parsed_strictly(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["query", "balance", f"{ADDRESS}/{bad}", "--node", "http://127.0.0.1:9"])
    assert exited.value.code == 2
    assert "subaccount" in capsys.readouterr().err


def test_the_argument_types_keep_good_values() -> None:
    assert subaccount_ref(ADDRESS) == (ADDRESS, 0)
    assert subaccount_ref(f"{ADDRESS}/127") == (ADDRESS, 127)
    assert uint_arg("depth", 0, 1000)("0") == 0
    args = PARSER.parse_args(["tx", "place", "--key", "k", "--market", "BTC-USD", "--side", "buy",
                                      "--price", "1", "--size", "1", "--subaccount", "3", "--client-id", "7"])
    assert (args.subaccount, args.client_id) == (3, 7)


@pytest.mark.parametrize(("argv", "message"), [
    (["tx", "transfer", "--key", "k", "--to", f"{ADDRESS}/128", "--amount", "1"],
     "argument --to: subaccount must be from 0 to 127, got 128"),
    (["tx", "cancel-all", "--key", "k", "--subaccount", "01"], "argument --subaccount: subaccount must be written"),
    (["query", "book", "BTC-USD", "--depth", "1001"], "argument --depth: depth must be from 0 to 1000, got 1001"),
])
def test_the_message_names_the_argument_and_the_rule(argv: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
