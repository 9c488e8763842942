"""contract.settings: one way to read settings (flag > environment variable > default), and the
one-box stages' typed settings and counters, which travel as flags and as JSON files."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract.errors import SettingsError
from contract.settings import Settings, bootstrap_servers, host_port, setting
from onebox import stages
from onebox.stats import StatsFile, read_counters, stats_path


@dataclass(frozen=True, slots=True)
class Example(Settings):
    name: str = setting(help="a name")
    count: int = setting(3, env="EXAMPLE_COUNT", help="how many")
    ratio: float = setting(0.5, env="EXAMPLE_RATIO", flag="--share", help="a share")
    on: bool = setting(True, env="EXAMPLE_ON", help="whether")
    where: Path | None = setting(None, env="EXAMPLE_WHERE", help="a path")
    words: tuple[str, ...] = setting((), env="EXAMPLE_WORDS", help="words")
    hidden: int = 7  # not a setting: code may set it, users may not


def parse(argv: list[str], env: dict[str, str] | None = None) -> Example:
    parser = argparse.ArgumentParser()
    Example.add_arguments(parser)
    return Example.from_args(parser.parse_args(argv), env or {})


def test_a_flag_beats_the_variable_which_beats_the_default():
    env = {"EXAMPLE_COUNT": "5", "EXAMPLE_RATIO": "0.25"}
    settings = parse(["--name", "x", "--count", "9"], env)
    assert (settings.count, settings.ratio, settings.on) == (9, 0.25, True)


def test_text_becomes_the_fields_type():
    settings = parse(
        ["--name", "x", "--no-on", "--where", "/tmp/a"],
        {"EXAMPLE_WORDS": " a, b ,,c ", "EXAMPLE_COUNT": "1_000"},
    )
    assert settings == Example(name="x", count=1000, on=False, where=Path("/tmp/a"), words=("a", "b", "c"))


def test_a_setting_may_have_several_variables_the_first_set_wins():
    @dataclass(frozen=True, slots=True)
    class Reader(Settings):
        url: str = setting("default", env=("OWN_URL", "SHARED_URL"))
        port: int = setting(1, env=("OWN_PORT", "SHARED_PORT"))

    assert Reader.from_env({}).url == "default"
    assert Reader.from_env({"SHARED_URL": "shared"}).url == "shared"
    assert Reader.from_env({"SHARED_URL": "shared", "OWN_URL": "own"}).url == "own"
    assert Reader.from_env({"OWN_URL": " ", "SHARED_URL": "shared"}).url == "shared"  # blank = unset
    with pytest.raises(SettingsError, match="SHARED_PORT='x': expected a whole number"):
        Reader.from_env({"SHARED_PORT": "x"})


def test_a_blank_variable_counts_as_unset():
    assert Example.from_env({"EXAMPLE_COUNT": "  "}, name="x").count == 3


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EXAMPLE_COUNT": "many"}, "EXAMPLE_COUNT='many': expected a whole number"),
        ({"EXAMPLE_RATIO": "half"}, "EXAMPLE_RATIO='half': expected a number"),
        ({"EXAMPLE_ON": "maybe"}, "EXAMPLE_ON='maybe': expected true or false"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_its_value_and_what_fits(env, message):
    with pytest.raises(SettingsError, match=message):
        Example.from_env(env, name="x")


def test_a_bad_flag_is_refused_naming_the_flag():
    with pytest.raises(SettingsError, match="--share='lots': expected a number"):
        parse(["--name", "x", "--share", "lots"])


def test_a_missing_required_setting_is_named():
    with pytest.raises(SettingsError, match="--name: required"):
        Example.from_env({})


def test_help_names_the_default_and_the_variable():
    parser = argparse.ArgumentParser()
    Example.add_arguments(parser)
    text = parser.format_help()
    assert "how many (default 3) [EXAMPLE_COUNT]" in text
    assert "--hidden" not in text


def test_settings_written_as_flags_read_back_the_same():
    settings = Example(name="a b", count=1, ratio=2.0, on=False, where=Path("x"), words=("p", "q"))
    assert parse(settings.to_argv()) == settings
    assert Example(name="n").to_argv() == ["--name", "n"]  # defaults are left out


@pytest.mark.parametrize(
    "settings",
    [
        stages.BrokerSettings(topics=("cryptotrades", "other")),
        stages.AwsSettings(),
        stages.RunnerSettings(
            queue_url="http://q",
            region="eu-west-1",
            dead_letter_queue_url="http://d",
            max_tries=2,
            retry_base_s=0.5,
            retry_cap_s=4.0,
        ),
        stages.SinkSettings(vector_config=Path("vector/vector.toml")),
        stages.ReplaySettings(
            file=Path("f.csv"),
            speed=0.0,
            symbol="BTCUSDT",
            align=True,
            kafka_bootstrap="127.0.0.1:9092",
            topic="t",
        ),
        stages.ProducerStageSettings(
            kafka_bootstrap="127.0.0.1:1,[::1]:2",
            topic="t",
            state_file=Path("s"),
            ws_url="ws://x",
            rest_url="http://x",
            symbols=("BTCUSDT", "ETHUSDT"),
            state_file_only=True,
        ),
        stages.StageRun(state_dir=Path("/tmp/x"), run_id="r1", watch_parent=True, log_level="DEBUG"),
    ],
)
def test_the_supervisor_renders_each_stages_settings_and_the_stage_parses_the_same(settings):
    parser = argparse.ArgumentParser()
    type(settings).add_arguments(parser)
    assert type(settings).from_args(parser.parse_args(settings.to_argv()), env={}) == settings


def test_the_retry_defaults_are_written_once():
    policy = stages.RunnerSettings(queue_url="q", region="r").policy
    assert (
        policy
        == stages.RetryPolicy()
        == stages.RetryPolicy(stages.MAX_TRIES, stages.RETRY_BASE_S, stages.RETRY_CAP_S)
    )


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("kafka:9092", ("kafka", 9092)),
        ("[::1]:9092", ("::1", 9092)),
        (":9108", ("127.0.0.1", 9108)),
        ("b-1.msk_x.eu-west-1.amazonaws.com:9094", ("b-1.msk_x.eu-west-1.amazonaws.com", 9094)),
    ],
)
def test_host_port_reads_names_addresses_and_an_empty_host(text, answer):
    assert host_port(text, default_host="127.0.0.1") == answer


@pytest.mark.parametrize("text", ["no-port", "host:", "host:99999", "ho st:1", ":1", "a:1,", ""])
def test_a_bootstrap_list_refuses_what_is_not_host_port(text):
    with pytest.raises(ValueError):
        bootstrap_servers(text)


def test_counters_are_written_and_read_back_as_their_type(tmp_path):
    stats = StatsFile(stats_path(tmp_path, "replay"), "run-1", min_interval_s=3600)
    counters = stages.ReplayCounters(state="running", ws_url="ws://x", trades=3)
    counters.expect = {"BTCUSDT": stages.IdRange(1, 3, 3)}
    stats.write(counters, force=True)
    counters.trades = 99
    stats.write(counters)  # within the interval: not written
    found = read_counters(stats_path(tmp_path, "replay"), stages.ReplayCounters)
    assert found is not None and found.ready() and found.run_id == "run-1"
    assert (found.trades, found.expect, found.distinct) == (3, {"BTCUSDT": stages.IdRange(1, 3, 3)}, 3)
    assert read_counters(stats_path(tmp_path, "sink"), stages.SinkCounters) is None  # never written


def test_a_counters_file_of_another_layout_reads_as_none(tmp_path):
    path = stats_path(tmp_path, "sink")
    path.parent.mkdir(parents=True)
    path.write_text('{"objects": "many"}')
    assert read_counters(path, stages.SinkCounters) is None
