"""A user's mistake ends in one line on stderr, exit 2, never a traceback; a bug says where its trace is.

Two kinds of test: the mistakes a newcomer made (issue 15), each with what its line must say; and
a walk over every flag of every subcommand, read from the argparse parsers, each given a bad value
from ``BAD``. A new flag needs an entry in ``BAD`` (the walk fails naming it otherwise); a new
subcommand with required arguments needs one in ``NEEDS``. All run in-process (``cli.main``), so
logging cannot add lines: what is checked is what the commands print.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cryptotrades import cli
from cryptotrades.cli import build_parser, main
from tests.fixtures.data import DATA, SAMPLE_CSV

ROOT = Path(__file__).resolve().parents[2]
KLINES = DATA / "BTCUSDT-1m-2020-01-01.zip"
TIMEOUT_S = 30  # a bad value that gets through starts the real thing: stop it, and fail

# What each command needs to get past its required arguments (and to write only in the test's
# folder, {tmp}): flags (None: a flag without a value) and positional arguments.
NEEDS: dict[str, tuple[dict[str, str | None], list[str]]] = {
    "aggregate": ({}, [str(SAMPLE_CSV)]),
    "verify": ({"--klines": str(KLINES)}, [str(SAMPLE_CSV)]),
    "db migrate": ({"--db": "sqlite:///{tmp}/m.db"}, []),
    "rebuild": (
        {
            "--from": "2026-01-01T00:00",
            "--to": "2026-01-01T01:00",
            "--db": "sqlite:///{tmp}/r.db",
            "--s3-endpoint": "http://127.0.0.1:9",
        },
        [],
    ),
    "prune": ({"--db": "sqlite:///{tmp}/p.db"}, []),
    "run": (
        {"--state-dir": "{tmp}/state", "--replay": str(SAMPLE_CSV), "--no-dashboard": None, "--speed": "0"},
        [],
    ),
    "status": ({"--state-dir": "{tmp}/state"}, []),
    "backfill": (
        {"--from": "2026-01-01", "--to": "2026-01-01", "--db": "sqlite:///{tmp}/b.db", "--source": "{tmp}"},
        [],
    ),
    "gaps": ({"--from": "2026-01-01", "--to": "2026-01-01", "--db": "sqlite:///{tmp}/g.db"}, []),
    "produce": ({"--state-file": "{tmp}/producer/state.json"}, []),
    "dashboard": ({"--db": "sqlite:///{tmp}/d.db", "--port": "0"}, []),
    "check-deployment": ({}, []),
}

# A bad value for each flag: "COMMAND --flag" first, then "--flag" for every command. None: no
# text is wrong for it (the reason beside it). {tmp}/a-file is a file where a folder is wanted.
BAD: dict[str, str | None] = {
    "--log-level": "LOUD",
    "--format": "xml",
    "--symbol": "BTC/USDT",
    "--db": "postgres://reader:s3cret@db/trades",
    "--klines": "/nope/k.zip",
    "--from": "yesterday",
    "--to": "tomorrow",
    "--bucket": "Not_A_Bucket",
    "rebuild --prefix": None,  # any text is a key prefix
    "--s3-endpoint": "ftp://x",
    "--margin": "ten",
    "--retention-days": "0",
    "--replay": "/nope/trades.csv",
    "--speed": "-1",
    "run --state-dir": "/proc/x",
    "status --state-dir": "{tmp}/a-file",
    "--kafka": "nohost",
    "--queue-url": "not-a-url",
    "--region": "nowhere",
    "--vector-config": "/nope/vector.toml",
    "--dashboard-port": "99999",
    "--max-tries": "0",
    "--retry-base": "0",
    "--retry-cap": "x",
    "--drain-timeout": "-1",
    "--rows": "-3",
    "--source": "{tmp}/nowhere",
    "--jobs": "0",
    "--timeout": "0",
    "--retries": "-1",
    "--cache-dir": "{tmp}/a-file",
    "--rest-url": "ftp://x",
    "--symbols": "x_y",
    "--binance-endpoint": "nowhere",
    "--binance-ws-url": "http://x",
    "--binance-rest-url": "ws://x",
    "--kafka-bootstrap": "nohost",
    "--topic": "",
    "--kafka-compression": "zip",
    "--kafka-linger-ms": "x",
    "--kafka-options": "novalue",
    "--buffer-messages": "x",
    "--state-file": "/proc/x/state.json",
    "--state-interval": "x",
    "--resume-from-kafka": "maybe",
    "--max-backfill": "x",
    "--rotate-after": "x",
    "--rotation-overlap": "x",
    "--reconnect-min": "x",
    "--reconnect-max": "x",
    "--ws-ping-interval": "x",
    "--ws-ping-timeout": "x",
    "--rest-timeout": "x",
    "--rest-weight-limit": "x",
    "--backfill-give-up": "x",
    "--health-address": "nohost",
    "--log-interval": "x",
    "--shutdown-timeout": "x",
    "--host": "256.0.0.1",
    "--port": "99999",
    "--refresh": "0.1",
    "--stack": "no stack",
}


class Hung(BaseException):
    """A command ran past TIMEOUT_S: the bad value got through. (Not an Exception: main lets it by.)"""


def commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every runnable command, as the words that name it (``("db", "migrate")``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*words, name))
            return
    yield words


def subparser(words: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for word in words:
        (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


def flags() -> Iterator[tuple[tuple[str, ...], str]]:
    """(command, flag) for every flag that takes a value; --log-level once, under `status`."""
    yield ("status",), "--log-level"
    for words in commands(build_parser()):
        for action in subparser(words)._actions:
            if action.option_strings and action.nargs != 0 and not isinstance(action, argparse._HelpAction):
                yield words, action.option_strings[0]


def fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


def argv_for(words: tuple[str, ...], flag: str, value: str, tmp: Path) -> list[str]:
    name = " ".join(words)
    assert name in NEEDS, f"`cryptotrades {name}` is new: say in NEEDS what it needs to run"
    options, positionals = NEEDS[name]
    argv = [flag, value] if flag == "--log-level" else []
    argv.extend(words)
    for option, given in options.items():
        if option != flag:
            argv += [option] if given is None else [option, fill(given, tmp)]
    if flag != "--log-level":
        argv += [flag, value]
    if positionals:
        argv += ["--", *positionals]
    return argv


@pytest.fixture
def cryptotrades(capsys, monkeypatch, tmp_path):
    """Run ``cryptotrades ARGV`` in-process; answer (exit status, stdout, stderr)."""
    for name in list(os.environ):
        if name.startswith(("CRYPTOTRADES_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "d.db").write_bytes(b"")  # the dashboard serves an existing database only
    sigpipe = signal.getsignal(signal.SIGPIPE)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def hung(_number: int, _frame: object) -> None:
        raise Hung

    def call(argv: list[str]) -> tuple[int, str, str]:
        previous = signal.signal(signal.SIGALRM, hung)
        signal.alarm(TIMEOUT_S)
        try:
            status = main([fill(arg, tmp_path) for arg in argv])
        except SystemExit as exc:  # argparse
            status = exc.code if isinstance(exc.code, int) else 1
        except Hung:
            status = -1
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        out, err = capsys.readouterr()
        return status, out, err

    yield call
    signal.signal(signal.SIGPIPE, sigpipe)  # main restores SIGPIPE's default; pytest must go on ignoring it
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def assert_one_line(status: int, err: str, *said: str) -> str:
    assert status == 2, f"exit {status}, expected 2; stderr: {err!r}"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err[:600]!r}"
    for words in said:
        assert words in lines[0], f"{words!r} not in {lines[0]!r}"
    return lines[0]


# -- the mistakes of issue 15 --------------------------------------------------------------------


def corrupt_zip(tmp: Path) -> str:
    path = tmp / "BTCUSDT-aggTrades-2026-01-01.zip"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    return str(path)


MISTAKES = [
    pytest.param(
        ["run", "--db", "sqlite:////proc/x/y.db", "--replay", str(SAMPLE_CSV), "--state-dir", "{tmp}/s"],
        ["--db", "/proc/x", "give a folder"],
        id="run with an unwritable --db",
    ),
    pytest.param(
        ["db", "migrate", "--db", "sqlite:////proc/x/y.db"],
        ["/proc/x", "check --db"],
        id="db migrate unwritable",
    ),
    pytest.param(
        ["run", "--state-dir", "/proc/x", "--replay", str(SAMPLE_CSV)],
        ["--state-dir", "/proc/x"],
        id="run --state-dir /proc/x",
    ),
    pytest.param(
        ["aggregate", "CORRUPT"], ["not a readable zip", "download it again"], id="aggregate a corrupt zip"
    ),
    pytest.param(
        ["--log-level", "LOUD", "status"], ["--log-level", "'LOUD'", "DEBUG"], id="--log-level LOUD"
    ),
    pytest.param(
        ["verify", "--klines", "/nope/k.zip", "--", str(SAMPLE_CSV)],
        ["/nope/k.zip: no such file"],
        id="verify no such klines",
    ),
    pytest.param(
        ["verify", "--klines", str(KLINES), str(SAMPLE_CSV)],
        ["no DATA", "put the trade files first or after --"],
        id="verify without --",
    ),
    pytest.param(["aggregate", str(KLINES)], ["klines", "verify --klines"], id="aggregate a klines file"),
    pytest.param(
        ["verify", "--klines", str(KLINES), "--", str(KLINES)],
        ["klines", "verify --klines"],
        id="verify klines as trades",
    ),
    pytest.param(
        ["status", "--db", "sqlite:////nope/x.db"],
        ["--db", "/nope/x.db", "no such"],
        id="status, no database",
    ),
    pytest.param(["status", "--rows", "-3"], ["--rows", "'-3'"], id="status --rows -3"),
    pytest.param(
        ["run", "--symbol", "BTCUSD_PERP"], ["--symbol", "BTCUSD_PERP"], id="run --symbol BTCUSD_PERP"
    ),
    pytest.param(
        ["dashboard", "--refresh", "0.1"],
        ["cryptotrades dashboard: --refresh: ", "0.1"],
        id="dashboard --refresh",
    ),
]


@pytest.mark.parametrize(("argv", "said"), MISTAKES)
def test_each_mistake_of_a_first_run_ends_in_one_line_saying_what_and_what_to_do(
    cryptotrades, tmp_path, argv, said
):
    argv = [corrupt_zip(tmp_path) if arg == "CORRUPT" else arg for arg in argv]
    status, _, err = cryptotrades(argv)
    line = assert_one_line(status, err, *said)
    assert "CRYPTOTRADES_SYMBOLS" not in line  # a variable the user never set


def test_a_dashboard_setting_from_the_environment_is_named_by_its_variable_without_a_log_stamp(
    cryptotrades, monkeypatch, tmp_path
):
    monkeypatch.setenv("CRYPTOTRADES_DASHBOARD_REFRESH_S", "0.1")
    status, _, err = cryptotrades(["dashboard"])
    line = assert_one_line(status, err, "CRYPTOTRADES_DASHBOARD_REFRESH_S")
    assert line.startswith("cryptotrades dashboard: ")  # no timestamp, no logger name
    assert "refresh_seconds" not in line


def test_a_bad_database_url_is_refused_without_showing_its_password(cryptotrades):
    status, _, err = cryptotrades(["status", "--db", "postgres://reader:s3cret@db/trades"])
    assert_one_line(status, err, "--db", "'postgres'")
    assert "s3cret" not in err


# -- every flag of every command ------------------------------------------------------------------


def bad_value(words: tuple[str, ...], flag: str) -> str | None:
    key = f"{' '.join(words)} {flag}"
    if key in BAD:
        return BAD[key]
    assert flag in BAD, f"`cryptotrades {key}` is new: give BAD[{flag!r}] (or BAD[{key!r}]) a bad value"
    return BAD[flag]


# Flags for which no text is wrong (BAD says None) are left out of the walk, not skipped.
@pytest.mark.parametrize(
    ("words", "flag"),
    [pytest.param(w, f, id=f"{' '.join(w)} {f}") for w, f in flags() if bad_value(w, f) is not None],
)
def test_every_flag_given_a_bad_value_is_refused_in_one_line_naming_it(cryptotrades, tmp_path, words, flag):
    value = bad_value(words, flag)
    assert value is not None
    status, _, err = cryptotrades(argv_for(words, flag, value, tmp_path))
    assert status != -1, f"`{' '.join(words)} {flag} {value}` was not refused within {TIMEOUT_S} s"
    line = assert_one_line(status, err)
    shown = fill(value, tmp_path)
    assert flag in line or (shown and shown in line), f"neither {flag} nor {shown!r} in {line!r}"


def test_the_walk_covers_every_command_and_each_one_runs_with_what_needs_gives_it():
    walked = {" ".join(words) for words in commands(build_parser())}
    assert walked == set(NEEDS), "NEEDS and the commands differ: add or remove the entry"
    assert {"verify", "db migrate", "run", "produce"} <= walked


# -- bugs -----------------------------------------------------------------------------------------


def test_an_unexpected_error_says_where_its_full_trace_is_and_exits_1(cryptotrades, monkeypatch, tmp_path):
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr("cryptotrades.onebox_commands.run_status", broken)
    status, _, err = cryptotrades(["status", "--state-dir", str(tmp_path / "state")])
    assert status == cli.EXIT_BUG
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "unexpected error: RuntimeError: a bug" in lines[0]
    trace = Path(lines[0].rsplit("the full trace is in ", 1)[1])
    assert trace.parent == tmp_path / "state" / "logs"
    assert "Traceback" in trace.read_text() and "a bug" in trace.read_text()


def test_a_usage_error_from_the_shell_is_one_line_too():
    """The same as a subprocess: nothing (a log line, a warning) adds to what the user reads."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cryptotrades.cli",
            "run",
            "--state-dir",
            "/proc/x",
            "--replay",
            str(SAMPLE_CSV),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_one_line(done.returncode, done.stderr, "--state-dir")
    assert done.stdout == ""
